"""The rendered KServe manifests, validated against KServe's own CRD schemas.

``data/kserve-crds/`` holds KServe's ``ClusterServingRuntime``, ``ServingRuntime`` and
``InferenceService`` CRDs (source and commit in its README). Each rendered resource of
those kinds is validated against its version's ``openAPIV3Schema`` as an API server with
strict field validation would: an object whose schema lists its ``properties`` takes no
others (unless it says ``x-kubernetes-preserve-unknown-fields``), so a misspelt field
fails here instead of being pruned in the cluster. The ServingRuntime schema, which a
namespaced copy of the runtime would meet, is checked with the same runtime spec.
"""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import Manifest, only

CRD_DIR = Path(__file__).parent / "data" / "kserve-crds"
KSERVE = "overlays/kserve"
KSERVE_EXAMPLE = "overlays/kserve-example"

Schema = dict[str, Any]
# libyaml's loader when PyYAML has it: the InferenceService CRD is 2 MB of YAML.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def strict(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever the API server prunes."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def crd_schemas() -> dict[tuple[str, str], Schema]:
    """``(apiVersion, kind)`` to its strict ``openAPIV3Schema``, for every served version."""
    schemas: Validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml.gz")):
        crd = yaml.load(gzip.decompress(path.read_bytes()), Loader=LOADER)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                api_version = f"{group}/{version['name']}"
                schemas[(api_version, kind)] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


Validators = dict[tuple[str, str], jsonschema.protocols.Validator]


@pytest.fixture(scope="module")
def schemas() -> Validators:
    """A validator per ``(apiVersion, kind)``, each schema checked once against its
    metaschema (``jsonschema.validate`` would check the 2 MB schema at every call)."""
    found = crd_schemas()
    kinds = {kind for _, kind in found}
    assert kinds == {"ClusterServingRuntime", "ServingRuntime", "InferenceService"}, kinds
    validators: Validators = {}
    for key, schema in found.items():
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        validators[key] = validator_class(schema)
    return validators


def validate(manifest: Manifest, schemas: Validators) -> None:
    """As ``jsonschema.validate``: raises the most relevant error, if any."""
    key = (manifest["apiVersion"], manifest["kind"])
    assert key in schemas, f"KServe's CRDs do not serve {key}"
    error = jsonschema.exceptions.best_match(schemas[key].iter_errors(manifest))
    if error is not None:
        raise error


def kserve_manifests(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return [m for name in (KSERVE, KSERVE_EXAMPLE) for m in rendered[name]]


def test_every_kserve_manifest_validates_against_kserves_crd(
    rendered: dict[str, list[Manifest]], schemas: Validators
) -> None:
    manifests = kserve_manifests(rendered)
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["ClusterServingRuntime", "InferenceService", "InferenceService"]
    for manifest in manifests:
        validate(manifest, schemas)


def test_the_runtime_is_also_a_valid_namespaced_serving_runtime(
    rendered: dict[str, list[Manifest]], schemas: Validators
) -> None:
    runtime = copy.deepcopy(only(rendered[KSERVE], "ClusterServingRuntime"))
    runtime["kind"] = "ServingRuntime"
    runtime["metadata"]["namespace"] = "models"
    validate(runtime, schemas)


def test_the_schemas_catch_a_misspelt_field_and_a_wrong_type(
    rendered: dict[str, list[Manifest]], schemas: Validators
) -> None:
    runtime = only(rendered[KSERVE], "ClusterServingRuntime")
    misspelt = copy.deepcopy(runtime)
    misspelt["spec"]["supportedModelFormat"] = misspelt["spec"].pop("supportedModelFormats")
    with pytest.raises(jsonschema.ValidationError, match="supportedModelFormat"):
        validate(misspelt, schemas)
    wrong_type = copy.deepcopy(runtime)
    wrong_type["spec"]["containers"][0]["args"] = "--model_name=x"
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'array'"):
        validate(wrong_type, schemas)


def test_the_runtime_lists_every_protocol_the_server_speaks(
    rendered: dict[str, list[Manifest]],
) -> None:
    # KServe's names (pkg/constants): an InferenceService asking for a protocol that its
    # runtime does not list is rejected, so grpc-v2 must be here for V2 over gRPC.
    runtime = only(rendered[KSERVE], "ClusterServingRuntime")
    assert runtime["spec"]["protocolVersions"] == ["v1", "v2", "grpc-v1", "grpc-v2"]
