"""Import a script under ``tools/`` as a module (``tools/`` is not a package).

The test modules import it as ``from tool_loader import REPO, load_tool``;
pytest puts ``tests/`` on ``sys.path`` for the rootdir ``conftest.py``.
"""
import importlib.util
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(relative_path: str):
    """Execute ``REPO/relative_path`` and return it as a module.

    Args:
        relative_path (str): e.g. ``'tools/visualization/vis_poca.py'``.
    """
    name = 'tool_' + osp.splitext(relative_path)[0].replace('/', '_').replace(
        '-', '_')
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
