import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _catalog_cache_dir(tmp_path_factory):
    """Every test (and every CLI subprocess it starts) caches the catalog in a temporary folder,
    never in the user's ~/.cache."""
    from gpuplan.catalog import CACHE_DIR_ENV_VAR, NO_CACHE_ENV_VAR

    old = {k: os.environ.get(k) for k in (CACHE_DIR_ENV_VAR, NO_CACHE_ENV_VAR)}
    os.environ[CACHE_DIR_ENV_VAR] = str(tmp_path_factory.mktemp("gpuplan-cache"))
    os.environ.pop(NO_CACHE_ENV_VAR, None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def cat():
    from gpuplan.catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session")
def arch_of(cat):
    from gpuplan.demand.arch import arch_from_config

    def get(model_id):
        m = cat.models[model_id]
        return arch_from_config(m.config, m.id)

    return get


@pytest.fixture(scope="session")
def device_step_fit():
    """``fit`` in mode train of one GPT-2 training step of validation/device_h100.yaml."""
    import json
    import tempfile
    from pathlib import Path

    from gpuplan.demand.fitting import fit

    def run(row):
        cfg = dict(model_type="gpt2", n_embd=row["h"], n_layer=row["L"], n_head=row["a"],
                   vocab_size=row["vocab"], n_positions=max(1024, row["seq"]))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "config.json").write_text(json.dumps(cfg))
            return fit(tmp, "h100-sxm", mode="train", seq_len=row["seq"],
                       batch=row["micro_batch"], layout="tp=1")

    return run
