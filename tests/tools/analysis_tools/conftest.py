import sys

import pytest
import torch


@pytest.fixture
def run_main(monkeypatch, capsys):
    """Run ``tool.main()`` with the command-line arguments ``argv`` (the
    thread count it sets is restored) and return what it printed."""

    def run(tool, *argv):
        threads = torch.get_num_threads()
        monkeypatch.setattr(sys, 'argv', ['tool.py', *argv])
        try:
            tool.main()
        finally:
            torch.set_num_threads(threads)
        return capsys.readouterr().out

    return run
