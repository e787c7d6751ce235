# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The documentation runs: every Python and config snippet of the Markdown
pages, and every relative link.

- A ```` ```python ```` block whose code assigns ``_base_`` is a **config**:
  it is written next to its page, or where its first line says it lives
  (``# configs/finetune/my.py``), so that ``./x.py`` bases resolve as they
  would for a user; it is parsed with ``Config.fromfile`` and its model built; a
  classifier also runs a forward pass, so a head that cannot read what the
  backbone and neck give fails here.
- Any other ```` ```python ```` block is **code**: executed from the
  repository root, as a user would run it.
- A block right after the line ``<!-- not run by tests/test_docs.py: REASON
  -->`` is skipped (needs ImageNet, COCO, a trained checkpoint...); shell
  blocks (``bash``, ``shell``) are commands and not run here.
"""
import glob
import os
import os.path as osp
import re
import runpy
import subprocess
import uuid
from typing import List, NamedTuple

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from tool_loader import REPO

#: The pages whose snippets and links are checked.
PAGES = sorted(
    {'README.md'} | {
        osp.relpath(p, REPO)
        for pattern in ('docs/**/*.md', 'configs/**/README.md')
        for p in glob.glob(osp.join(REPO, pattern), recursive=True)
    })
SKIP_MARK = re.compile(r'<!--\s*not run by tests/test_docs\.py:\s*(\S.*?)\s*-->')
FENCE = re.compile(r'^```(\w*)\s*$')
README_MAX_LINES = 250


class Snippet(NamedTuple):
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip_reason: str

    @property
    def is_config(self) -> bool:
        return re.search(r'^_base_\s*=', self.code, re.M) is not None

    @property
    def folder(self) -> str:
        """Where a config snippet is written (see the module docstring)."""
        m = re.match(r'#\s*(configs/\S+\.py)\s*$', self.code.split('\n')[0])
        if m:
            return osp.dirname(osp.join(REPO, m.group(1)))
        return osp.dirname(osp.join(REPO, self.page))


def read_snippets(page: str) -> List[Snippet]:
    """The fenced code blocks of a Markdown page, with their skip marks."""
    with open(osp.join(REPO, page), encoding='utf-8') as f:
        lines = f.read().split('\n')
    snippets, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        end = i + 1
        while end < len(lines) and not lines[end].startswith('```'):
            end += 1
        if end == len(lines):
            raise AssertionError(f'{page}:{start + 1}: unclosed code block')
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        mark = SKIP_MARK.search(lines[before]) if before >= 0 else None
        snippets.append(
            Snippet(page, start + 1, lang, '\n'.join(lines[start + 1:end]),
                    mark.group(1) if mark else ''))
        i = end + 1
    return snippets


# Blocks marked "not run" (they need ImageNet, COCO, downloads) are left
# out; test_skip_marks_are_attached checks every mark sits on a block.
SNIPPETS = [s for page in PAGES for s in read_snippets(page)
            if s.lang in ('python', 'py') and not s.skip_reason]


def _id(snippet: Snippet) -> str:
    return f'{snippet.page}:{snippet.line}'


def build_config_model(path: str):
    """Parse a config, import its ``custom_imports`` and build its model in
    the registry of its default scope."""
    cfg = Config.fromfile(path)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('snippet', SNIPPETS, ids=_id)
def test_snippet_runs(snippet: Snippet, monkeypatch, capsys):
    torch.manual_seed(0)
    if not snippet.is_config:
        monkeypatch.chdir(REPO)
        path = osp.join(REPO, f'.test_docs_{uuid.uuid4().hex}.py')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(snippet.code + '\n')
        try:
            runpy.run_path(path, run_name='__main__')
        finally:
            os.remove(path)
        return
    path = osp.join(snippet.folder, f'.test_docs_{uuid.uuid4().hex}.py')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(snippet.code + '\n')
    try:
        cfg, model = build_config_model(path)
    finally:
        os.remove(path)
    if cfg.get('default_scope', 'mmpretrain') == 'mmpretrain':
        model.eval()
        with torch.no_grad():
            logits = model(torch.rand(2, 3, 64, 64), mode='tensor')
        assert logits.shape == (2, cfg.model.head.num_classes)


def test_snippets_found():
    """The pages hold snippets, and both kinds are exercised."""
    assert any(s.is_config for s in SNIPPETS)
    assert any(not s.is_config for s in SNIPPETS)
    assert any(s.page == 'README.md' for s in SNIPPETS)


def test_skip_marks_are_attached():
    """A skip mark sits right before a code block (else it marks nothing)."""
    for page in PAGES:
        with open(osp.join(REPO, page), encoding='utf-8') as f:
            lines = f.read().split('\n')
        for i, line in enumerate(lines):
            if SKIP_MARK.search(line):
                nxt = i + 1
                while nxt < len(lines) and not lines[nxt].strip():
                    nxt += 1
                assert nxt < len(lines) and FENCE.match(lines[nxt]), (
                    f'{page}:{i + 1}: the skip mark is not followed by a '
                    'code block')


LINK = re.compile(r'\]\(([^)\s]+)\)')


@pytest.mark.parametrize('page', PAGES)
def test_relative_links_resolve(page):
    folder = osp.dirname(osp.join(REPO, page))
    with open(osp.join(REPO, page), encoding='utf-8') as f:
        text = f.read()
    broken = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+:', target) or target.startswith('#'):
            continue
        if not osp.exists(osp.join(folder, target.split('#')[0])):
            broken.append(target)
    assert not broken, f'{page}: links to missing files: {broken}'


def test_readme_is_short():
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        assert len(f.read().split('\n')) <= README_MAX_LINES


def test_no_reference_to_documents_outside_the_repository():
    """The project's files cite the paper, not working notes: the name of
    the note (upper case, built below) appears nowhere in the tracked
    files."""
    files = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split('\n')
    word = re.compile(r'\b' + 'SP' + r'EC\b')
    hits = []
    for name in files:
        path = osp.join(REPO, name)
        if not name or not osp.isfile(path) or name.endswith('.png'):
            continue
        with open(path, encoding='utf-8', errors='ignore') as f:
            for number, line in enumerate(f, 1):
                if word.search(line):
                    hits.append(f'{name}:{number}')
    assert not hits, hits
