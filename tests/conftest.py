import pytest
from mmengine.registry import DefaultScope

import noah_mm  # noqa: F401  (registers NOAHHead and friends)


@pytest.fixture(autouse=True)
def isolated_default_scope():
    """Forget the default registry scopes a test created (a Runner or
    ``init_default_scope('mmdet')`` leaves one behind, which would send the
    next test's ``MODELS.build`` to another library's registry)."""
    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        DefaultScope._instance_dict.pop(name)
