# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""Build noah_mm with its configs, tools and model index inside the package.

OpenMMLab tools look for a package's configs, scripts and model index under
``<package>/.mim/``: ``mim train/test/run/search`` and mmengine's
``package::path`` config prefix. The metadata lives in ``setup.cfg``; this
file only adds that directory:

- a wheel (``pip wheel .``, ``python -m build``, ``pip install .``) gets a
  copy of ``configs/``, ``tools/`` and ``model-index.yml`` under
  ``noah_mm/.mim/`` in its build directory - the source tree is not touched;
- an editable install (``pip install -e .``) gets symbolic links
  ``noah_mm/.mim/{configs,tools,model-index.yml}`` into the checkout, so
  edits show up without reinstalling.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
#: What ships in ``noah_mm/.mim/`` besides the code.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
#: Never shipped: caches and run outputs that may sit in a checkout.
IGNORED = shutil.ignore_patterns('__pycache__', '*.pyc', '*.pyo',
                                 'work_dirs', '.ipynb_checkpoints')


def copy_mim_items(dest: str) -> None:
    """Copy :data:`MIM_ITEMS` from the checkout into ``dest``.

    Args:
        dest (str): The ``.mim`` folder inside a build directory.
    """
    os.makedirs(dest, exist_ok=True)
    for item in MIM_ITEMS:
        src, dst = osp.join(ROOT, item), osp.join(dest, item)
        if not osp.exists(src):
            raise FileNotFoundError(
                f'{src} is missing: noah_mm is built from a checkout (or '
                'an sdist) that holds configs/, tools/ and model-index.yml')
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=IGNORED)
        else:
            shutil.copyfile(src, dst)


def link_mim_items(dest: str) -> None:
    """Point ``dest/<item>`` at the checkout's :data:`MIM_ITEMS` (relative
    symbolic links), replacing stale copies.

    Args:
        dest (str): ``noah_mm/.mim`` in the checkout.
    """
    os.makedirs(dest, exist_ok=True)
    for item in MIM_ITEMS:
        dst = osp.join(dest, item)
        target = osp.relpath(osp.join(ROOT, item), dest)
        if osp.islink(dst):
            if os.readlink(dst) == target:
                continue
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        elif osp.exists(dst):
            os.remove(dst)
        os.symlink(target, dst)


class BuildPyWithMim(build_py):
    """``build_py`` that also places the ``.mim`` folder (see the module
    docstring)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            link_mim_items(osp.join(ROOT, 'noah_mm', '.mim'))
        else:
            copy_mim_items(osp.join(self.build_lib, 'noah_mm', '.mim'))


setup(cmdclass={'build_py': BuildPyWithMim})
