// AioservingAddOne: a minimal TensorFlow custom op for the --custom_op_paths tests.
//
// y = x + 1 for a float tensor of any shape, CPU only. A SavedModel whose graph uses
// this op loads only in a process that loaded this library first, which is what
// tests/integration/test_custom_ops.py checks. Built by the test with g++ against the
// installed TensorFlow's headers and library (tf.sysconfig.get_compile_flags /
// get_link_flags). It is written against TensorFlow's stable C API (tensorflow/c/ops.h,
// tensorflow/c/kernels.h), whose headers are small: it compiles in about half a second
// of CPU, where the C++ API's headers (Eigen included) take over six.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

namespace {

constexpr char kOpName[] = "AioservingAddOne";

void SameShapeAsInput(TF_ShapeInferenceContext* context, TF_Status* status) {
  TF_ShapeHandle* shape = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(context, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(context, 0, shape, status);
  TF_DeleteShapeHandle(shape);
}

void AddOne(void* /*kernel*/, TF_OpKernelContext* context) {
  TF_Status* status = TF_NewStatus();
  TF_Tensor* input = nullptr;
  TF_Tensor* output = nullptr;
  TF_GetInput(context, 0, &input, status);
  if (TF_GetCode(status) == TF_OK) {
    std::vector<int64_t> dims(TF_NumDims(input));
    for (size_t i = 0; i < dims.size(); ++i) dims[i] = TF_Dim(input, static_cast<int>(i));
    output = TF_AllocateOutput(context, 0, TF_FLOAT, dims.data(), static_cast<int>(dims.size()),
                               TF_TensorByteSize(input), status);
  }
  if (TF_GetCode(status) == TF_OK) {
    const float* in = static_cast<const float*>(TF_TensorData(input));
    float* out = static_cast<float*>(TF_TensorData(output));
    for (int64_t i = 0; i < TF_TensorElementCount(input); ++i) out[i] = in[i] + 1.0f;
  } else {
    TF_OpKernelContext_Failure(context, status);
  }
  if (input != nullptr) TF_DeleteTensor(input);
  if (output != nullptr) TF_DeleteTensor(output);
  TF_DeleteStatus(status);
}

// Registers the op and its CPU kernel when the library is loaded (dlopen).
bool Register() {
  TF_Status* status = TF_NewStatus();
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder(kOpName);
  TF_OpDefinitionBuilderAddInput(op, "x: float");
  TF_OpDefinitionBuilderAddOutput(op, "y: float");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, &SameShapeAsInput);
  TF_RegisterOpDefinition(op, status);
  if (TF_GetCode(status) == TF_OK) {
    TF_KernelBuilder* kernel = TF_NewKernelBuilder(kOpName, "CPU", nullptr, &AddOne, nullptr);
    TF_RegisterKernelBuilder(kOpName, kernel, status);
  }
  const bool registered = TF_GetCode(status) == TF_OK;
  TF_DeleteStatus(status);
  return registered;
}

[[maybe_unused]] const bool registered = Register();

}  // namespace
