import pytest


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
