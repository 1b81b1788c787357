"""Serving scikit-learn and XGBoost models never imports TensorFlow.

Each check runs in a fresh interpreter (this test process has TensorFlow imported
already): it loads real models through the platform table, as the source adapter does,
answers Classify and Regress on serialized ``tf.Example`` rows, and reports which
``tensorflow`` modules the process imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

LOAD_AND_ANSWER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np

    from app.platforms import platform_factories
    from config.flags import parse_flags
    from config.server_config import load_server_config
    from servables.example_proto import Example
    from servables.warmup_options import WarmupOptions
    from tests.platform_models import iris, write_sklearn_classifier, write_xgboost
    from tests.platform_models import write_sklearn_regressor

    root = Path(sys.argv[1])
    config = load_server_config(parse_flags([f"--model_base_path={root}"]))
    factories = platform_factories(config, WarmupOptions())

    def examples(rows):
        serialized = []
        for row in rows:
            example = Example()
            example.features.feature["inputs"].float_list.value.extend(row.tolist())
            serialized.append(example.SerializeToString())
        return np.array(serialized, dtype=object)

    def answer(platform, path, signature_name, rows):
        servable = factories[platform]("m", 1, str(path)).load()
        signature = servable.signature(signature_name)
        outputs = servable.run(signature, {"inputs": examples(rows)}, ())
        return {name: list(value.shape) for name, value in sorted(outputs.items())}

    x, _ = iris()
    write_sklearn_classifier(root / "sklearn_classifier" / "1")
    write_sklearn_regressor(root / "sklearn_regressor" / "1")
    write_xgboost(root / "xgboost" / "1")
    answers = {
        "sklearn classify": answer(
            "sklearn", root / "sklearn_classifier" / "1", "classify", x[:5]
        ),
        "sklearn regress": answer(
            "sklearn", root / "sklearn_regressor" / "1", "regress", np.zeros((2, 64))
        ),
        "xgboost classify": answer("xgboost", root / "xgboost" / "1", "classify", x[:5]),
    }
    imported = sorted(
        name for name in sys.modules if name == "tensorflow" or name.startswith("tensorflow.")
    )
    print(json.dumps({"answers": answers, "tensorflow_modules": imported}))
    """
)


def test_loading_sklearn_and_xgboost_and_answering_classify_regress_imports_no_tensorflow(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_ANSWER, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["answers"] == {
        "sklearn classify": {"classes": [5, 3], "scores": [5, 3]},
        "sklearn regress": {"outputs": [2]},
        "xgboost classify": {"classes": [5, 3], "scores": [5, 3]},
    }
    assert report["tensorflow_modules"] == []
