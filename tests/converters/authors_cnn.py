# Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
"""The NOAH authors' CNNs, rebuilt for the tests from the description of
their public code (``models/noah_*.py`` and ``modules/noah.py`` of their
repository): the same module names, structure and forward pass.

Their ResNet, MobileNetV2 and ShuffleNetV2 are torchvision's networks with
the classifier replaced by ``head``: the NOAH head (:class:`AuthorsNOAH`) or
``Sequential(AdaptiveAvgPool2d(1), Flatten(), Linear)``. Their
MobileNetV3-Small is their own (:class:`AuthorsMobileNetV3Small`).
Checkpoints are saved as their CNN ``main.py`` saves them
(:func:`save_cnn_checkpoint`).
"""
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

NUM_CLASSES = 1000


class AuthorsNOAH(nn.Module):
    """The released head: ``query`` reads the first ``int(r*C)`` channels,
    ``value`` the rest, both grouped 1x1 convolutions with ``N*M`` outputs
    (output ``n*M + m``: block ``n``, class ``m``); softmax of the query over
    the positions, product with the value, sum over blocks and positions."""

    def __init__(self, channels, num_classes, num_heads, key_ratio,
                 dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.key = int(channels * key_ratio)
        self.query = nn.Conv2d(self.key, num_heads * num_classes, 1,
                               groups=num_heads)
        self.value = nn.Conv2d(channels - self.key, num_heads * num_classes,
                               1, groups=num_heads)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x.flatten(2).unsqueeze(-2)  # (B, C, 1, L)
        B, _, _, L = x.shape
        a = self.query(x[:, :self.key]).reshape(B, self.num_heads, -1, L)
        v = self.value(x[:, self.key:]).reshape(B, self.num_heads, -1, L)
        return (a.softmax(dim=3) * self.dropout(v)).sum(dim=(1, 3))


def linear_head(channels, num_classes=NUM_CLASSES):
    """The baseline head: GAP, flatten, linear (``head.2``)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(channels, num_classes))


def _head(channels, noah, num_heads, key_ratio):
    if noah:
        return AuthorsNOAH(channels, NUM_CLASSES, num_heads, key_ratio)
    return linear_head(channels)


class AuthorsResNet(torchvision.models.ResNet):
    """``noah_resnet.py``: torchvision's ResNet, ``head`` after layer4."""

    def __init__(self, depth, noah, num_heads=4, key_ratio=None):
        block, layers = {
            18: (torchvision.models.resnet.BasicBlock, [2, 2, 2, 2]),
            34: (torchvision.models.resnet.BasicBlock, [3, 4, 6, 3]),
            50: (torchvision.models.resnet.Bottleneck, [3, 4, 6, 3]),
            101: (torchvision.models.resnet.Bottleneck, [3, 4, 23, 3]),
            152: (torchvision.models.resnet.Bottleneck, [3, 8, 36, 3]),
        }[depth]
        super().__init__(block, layers)
        del self.fc, self.avgpool
        if key_ratio is None:
            key_ratio = 1 / 2 if depth == 18 else 1 / 8
        self.head = _head(512 * block.expansion, noah, num_heads, key_ratio)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(x)


class AuthorsMobileNetV2(torchvision.models.MobileNetV2):
    """``noah_mobilenetv2.py``: torchvision's MobileNetV2 ``features``,
    then ``head`` on the 1280-channel map (N=8, r=1/4)."""

    def __init__(self, width, noah, num_heads=8, key_ratio=1 / 4):
        super().__init__(width_mult=width)
        del self.classifier
        self.head = _head(self.last_channel, noah, num_heads, key_ratio)

    def forward(self, x):
        return self.head(self.features(x))


class AuthorsShuffleNetV2(torchvision.models.ShuffleNetV2):
    """``noah_shufflenetv2.py``: torchvision's ShuffleNetV2 (conv1, stage2-4,
    conv5), then ``head`` (N=8, r=1/4)."""

    def __init__(self, noah, widths=(24, 116, 232, 464, 1024), num_heads=8,
                 key_ratio=1 / 4):
        super().__init__([4, 8, 4], list(widths))
        del self.fc
        self.head = _head(widths[-1], noah, num_heads, key_ratio)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.head(x)


class _HSwish(nn.Module):

    def forward(self, x):
        return x * F.relu6(x + 3.) / 6.


class _HSigmoid(nn.Module):

    def forward(self, x):
        return F.relu6(x + 3.) / 6.


class _SEModule(nn.Module):
    """``fc``: Linear(C, C/4, no bias), ReLU, Linear(C/4, C, no bias),
    hard sigmoid; the gate multiplies the input."""

    def __init__(self, channels):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // 4, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // 4, channels, bias=False), _HSigmoid())

    def forward(self, x):
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class _MobileBottleneck(nn.Module):
    """``conv``: 1x1 expand, BN, act, kxk depthwise, BN, SE (or identity),
    act, 1x1 project, BN; identity shortcut at stride 1 with equal widths."""

    def __init__(self, inp, oup, kernel, stride, exp, se, nl):
        super().__init__()
        act = nn.ReLU if nl == 'RE' else _HSwish
        self.res = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, exp, 1, 1, 0, bias=False), nn.BatchNorm2d(exp),
            act(),
            nn.Conv2d(exp, exp, kernel, stride, kernel // 2, groups=exp,
                      bias=False), nn.BatchNorm2d(exp),
            _SEModule(exp) if se else nn.Identity(), act(),
            nn.Conv2d(exp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        return x + self.conv(x) if self.res else self.conv(x)


class AuthorsMobileNetV3Small(nn.Module):
    """``noah_mobilenetv3.py`` (mode 'small', width 1.0): ``features`` =
    stem (3x3 s2, BN, HSwish), 11 bottlenecks, 1x1 conv to 576 (BN, HSwish),
    [GAP for the baseline], Conv 576->1280 with bias, HSwish; ``classifier``
    = NOAH(1280) or Sequential(Flatten, Linear(1280, 1000))."""

    #: kernel, expansion, output, SE, nonlinearity, stride
    SETTINGS = [
        [3, 16, 16, True, 'RE', 2],
        [3, 72, 24, False, 'RE', 2],
        [3, 88, 24, False, 'RE', 1],
        [5, 96, 40, True, 'HS', 2],
        [5, 240, 40, True, 'HS', 1],
        [5, 240, 40, True, 'HS', 1],
        [5, 120, 48, True, 'HS', 1],
        [5, 144, 48, True, 'HS', 1],
        [5, 288, 96, True, 'HS', 2],
        [5, 576, 96, True, 'HS', 1],
        [5, 576, 96, True, 'HS', 1],
    ]

    def __init__(self, noah, num_heads=8, key_ratio=1 / 4, settings=None):
        super().__init__()
        layers = [nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16),
            _HSwish())]
        inp = 16
        for k, exp, c, se, nl, s in settings or self.SETTINGS:
            layers.append(_MobileBottleneck(inp, c, k, s, exp, se, nl))
            inp = c
        layers.append(nn.Sequential(
            nn.Conv2d(inp, 576, 1, 1, 0, bias=False), nn.BatchNorm2d(576),
            _HSwish()))
        if not noah:
            layers.append(nn.AdaptiveAvgPool2d(1))
        layers += [nn.Conv2d(576, 1280, 1, 1, 0), _HSwish()]
        self.features = nn.Sequential(*layers)
        if noah:
            self.classifier = AuthorsNOAH(1280, NUM_CLASSES, num_heads,
                                          key_ratio)
        else:
            self.classifier = nn.Sequential(nn.Flatten(),
                                            nn.Linear(1280, NUM_CLASSES))

    def forward(self, x):
        return self.classifier(self.features(x))


def build(family, noah, **kwargs):
    """One of the authors' networks, e.g. ``build('resnet', True,
    depth=50)``."""
    if family == 'resnet':
        return AuthorsResNet(kwargs.pop('depth'), noah, **kwargs)
    if family == 'mobilenet_v2':
        return AuthorsMobileNetV2(kwargs.pop('width'), noah, **kwargs)
    if family == 'mobilenet_v3_small':
        return AuthorsMobileNetV3Small(noah, **kwargs)
    if family == 'shufflenet_v2':
        return AuthorsShuffleNetV2(noah, **kwargs)
    raise KeyError(family)


def randomise(model, seed=0):
    """Non-trivial BN statistics and affine parameters, biases and head
    weights, so that a wrong mapping or permutation changes the logits.
    BN scales below 1 keep deep random networks' activations O(1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 0.4 + 0.3)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.num_batches_tracked.fill_(1234)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        head = model.head if hasattr(model, 'head') else model.classifier
        for name, p in head.named_parameters():
            if name.endswith('weight'):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


def save_cnn_checkpoint(model, path, epoch=100):
    """Save as the authors' CNN ``main.py`` does: DDP's ``module.`` prefix,
    accuracy tensors and the optimizer state."""
    state = {'module.' + k: v for k, v in model.state_dict().items()}
    params = [p for p in model.parameters()][:2]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    torch.save({
        'epoch': epoch,
        'state_dict': state,
        'acc': torch.tensor(71.81),
        'best_acc': torch.tensor(71.9),
        'optimizer': optimizer.state_dict(),
    }, path)
    return path
