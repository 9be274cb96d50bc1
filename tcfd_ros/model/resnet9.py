"""ResNet-9 (OpenGait's ResNet9 layout): the trainable fine-grained bypass of TCFDNet.

Reusable on its own (the GaitBase-like cross-modal baseline in ``training/`` builds on it):
``ResNet9(in_channels=3, channels=(64, 128, 256, 512), blocks=(1, 2, 2, 1), strides=(1, 2, 2, 1))``
maps [b, in_channels, H, W] -> [b, out_channels, h', w'] frame by frame (no temporal mixing).
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from tcfd_ros.errors import ConfigError

#: Fewest input channels for which the shortcut uses a strided 1x1 convolution. With fewer, PyTorch 2.14's
#: oneDNN weight-gradient kernel on CPUs without AVX-512 (``jit_avx2_1x1_convolution_bwd_weights``, 8 float
#: lanes) crashes the process on channels-last input on one thread, which is how the trainer runs
#: (segfaults for 1-7 input channels at stride 2; none for 8-32; RESULTS.md, "A training crash on CPUs
#: without AVX-512").
STRIDED_1X1_MIN_CHANNELS = 8


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus identity (or 1x1 conv-BN when the shape changes), ReLU.

    Below ``STRIDED_1X1_MIN_CHANNELS`` input channels the shortcut's strided 1x1 convolution is computed
    as what it is, every ``stride``-th pixel through a 1x1 convolution of stride 1: the same weights and
    output, without the kernel that crashes; wider blocks keep the strided convolution, which is faster.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        self.subsample = stride if c_in < STRIDED_1X1_MIN_CHANNELS else 1
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride // self.subsample, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        s = self.subsample
        identity = x if self.down is None else self.down(x[:, :, ::s, ::s] if s != 1 else x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class ResNet9(nn.Module):
    """Stem (3x3 conv, ``stem_stride``) + 4 stages of BasicBlocks (+ optional 1x1 output projection)."""

    def __init__(
        self,
        in_channels: int = 3,
        channels: Sequence[int] = (64, 128, 256, 512),
        blocks: Sequence[int] = (1, 2, 2, 1),
        strides: Sequence[int] = (1, 2, 2, 1),
        stem_stride: int = 1,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        if not (len(channels) == len(blocks) == len(strides)) or not channels:
            raise ConfigError(f"ResNet9: channels {channels}, blocks {blocks}, strides {strides} must match")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        c_prev = channels[0]
        for c, n, s in zip(channels, blocks, strides):
            layers = [BasicBlock(c_prev, c, s)] + [BasicBlock(c, c, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            c_prev = c
        self.stages = nn.Sequential(*stages)
        self.out_channels = out_channels or channels[-1]
        self.proj = None
        if self.out_channels != channels[-1]:
            self.proj = nn.Sequential(nn.Conv2d(channels[-1], self.out_channels, 1, bias=False),
                                      nn.BatchNorm2d(self.out_channels))

    def forward(self, x: Tensor) -> Tensor:
        y = self.stages(self.stem(x))  # [b, C, h', w']
        return y if self.proj is None else self.proj(y)
