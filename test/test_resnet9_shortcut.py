"""ResNet-9's strided shortcut: trains on every CPU (a oneDNN kernel crashed on AVX2 CPUs), same output."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from tcfd_ros.model.resnet9 import STRIDED_1X1_MIN_CHANNELS, BasicBlock

# One training step of narrow strided blocks, the trainer's way (channels-last, one thread), in a child
# process: the crash this guards against is a segfault, which would take pytest down with it.
_STEP = textwrap.dedent("""
    import torch
    from tcfd_ros.model.resnet9 import BasicBlock
    torch.set_num_threads(1)
    for c_in, batch in ((4, 12), (2, 4), (5, 2), (3, 12)):
        block = BasicBlock(c_in, 2 * c_in, 2).to(memory_format=torch.channels_last)
        x = torch.randn(batch, c_in, 32, 22).to(memory_format=torch.channels_last).requires_grad_()
        block(x).sum().backward()
        assert block.down[0].weight.grad is not None
    print("trained")
""")


def test_narrow_strided_blocks_train_channels_last_on_one_thread():
    r = subprocess.run([sys.executable, "-c", _STEP], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "trained" in r.stdout, (r.returncode, r.stderr[-2000:])


@pytest.mark.parametrize("c_in", [4, STRIDED_1X1_MIN_CHANNELS])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_shortcut_is_a_strided_1x1_convolution(c_in, channels_last):
    torch.manual_seed(0)
    block = BasicBlock(c_in, 16, 2).eval()
    ref = nn.Conv2d(c_in, 16, 1, 2, bias=False)
    ref.weight.data.copy_(block.down[0].weight.data)
    x = torch.randn(3, c_in, 33, 21)     # odd sizes: the last row and column count
    if channels_last:
        block, ref = block.to(memory_format=torch.channels_last), ref.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        got = block.down[0](x[:, :, ::block.subsample, ::block.subsample])
        torch.testing.assert_close(got, ref(x), rtol=1e-5, atol=1e-6)
        assert block(x).shape == (3, 16, 17, 11)
    assert block.subsample == (2 if c_in < STRIDED_1X1_MIN_CHANNELS else 1)
