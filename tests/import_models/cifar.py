"""A CIFAR ResNet as papers' repositories write it (functional ReLUs, option A shortcuts with F.pad,
x.view(x.size(0), -1)), and models the importer must refuse or rename."""

import torch.nn.functional as F
from torch import nn


class Shortcut(nn.Module):
    def __init__(self, planes: int) -> None:
        super().__init__()
        self.planes = planes

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.planes // 4, self.planes // 4), "constant", 0)


class BasicBlock(nn.Module):
    def __init__(self, inputs: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = Shortcut(planes) if stride != 1 or inputs != planes else nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, blocks: int = 2, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, inputs = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            stage = []
            for index in range(blocks):
                stage.append(BasicBlock(inputs, planes, stride if index == 0 else 1))
                inputs = planes
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


class Unwritable(nn.Module):
    """Two things no layer computes: a reflect-padded conv and an absolute value."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())

    def forward(self, x):
        return self.stem(x) + self.body(x).abs()


class Reserved(nn.Module):
    """Module names a spec cannot have: a leading underscore and a Python keyword."""

    def __init__(self) -> None:
        super().__init__()
        self._stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.training_ = None
        self.add_module("class", nn.Conv2d(8, 4, 1))

    def forward(self, x):
        return self._modules["class"](F.relu(self._stem(x)))
