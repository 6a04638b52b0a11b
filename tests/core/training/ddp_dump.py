"""Runs ``llmeco train`` (the arguments after DUMP_DIR) and then saves this process's trainable parameters to
``DUMP_DIR/rank<RANK>.safetensors``, so a test can compare what each DDP rank ended with.

    python tests/core/training/ddp_dump.py DUMP_DIR train --data ... [key=value ...]
"""

import os
import sys
from pathlib import Path

import transformers
from safetensors.torch import save_file

dump = Path(sys.argv[1])
_train = transformers.Trainer.train


def train_and_dump(self, *args, **kwargs):
    out = _train(self, *args, **kwargs)
    params = {n: p.detach().cpu().contiguous() for n, p in self.model.named_parameters() if p.requires_grad}
    save_file(params, str(dump / f"rank{os.environ.get('RANK', '0')}.safetensors"))
    return out


transformers.Trainer.train = train_and_dump  # trainer.py imports Trainer at call time, so it gets this one
sys.argv = ["llmeco", *sys.argv[2:]]

from apps.cli import main  # noqa: E402

main()
