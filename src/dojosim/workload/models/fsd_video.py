"""fsd-video: a Tesla-style multi-camera video network, written from Tesla's public AI Day 2021 and 2022 talks.

What those talks described, and what is built here:
- AI Day 2021 (A. Karpathy, "HydraNets" and "multi-camera vector space"): eight cameras at 1280x960, a shared
  RegNet backbone per camera, BiFPN multi-scale feature fusion, a transformer whose queries are bird's-eye-view
  (BEV) grid positions cross-attending to every camera's image features, a feature queue over time with a
  video module, and many task heads on the shared features.
- AI Day 2022 (occupancy networks): occupancy over a 3-D BEV volume, lane and object heads.

Sizes are parameters: `FSDVideo(cameras=8, frames=16, height=960, width=1280, bev=200)`. Choices that the talks
did not fix are stated: backbone widths are RegNetY-style (group width 16, SE omitted), the BEV transformer
attends at a quarter of the output grid (bev/4 per side) and is upsampled for the heads, and the video module
is a temporal transformer over the frame queue at that coarse grid.
"""

import torch
import torch.nn.functional as F
from torch import nn


class RegNetBlock(nn.Module):
    """RegNet X/Y bottleneck: 1x1, grouped 3x3 (group width 16), 1x1, residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, group_width: int = 16):
        super().__init__()
        groups = max(1, out_ch // group_width)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv3 = nn.Conv2d(out_ch, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + identity)


class RegNetBackbone(nn.Module):
    """Stem at stride 2, then four stages at strides 4, 8, 16, 32; returns the last three."""

    def __init__(self, widths=(64, 144, 320, 784), depths=(1, 3, 8, 2)):  # RegNetY-800MF
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        stages, in_ch = [], 32
        for width, depth in zip(widths, depths, strict=True):
            stages.append(
                nn.Sequential(
                    *[RegNetBlock(in_ch if j == 0 else width, width, 2 if j == 0 else 1) for j in range(depth)]
                )
            )
            in_ch = width
        self.stages = nn.ModuleList(stages)
        self.out_channels = widths[1:]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 1:
                feats.append(x)
        return feats


class SeparableConv(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.depthwise = nn.Conv2d(ch, ch, 3, padding=1, groups=ch, bias=False)
        self.pointwise = nn.Conv2d(ch, ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.bn(self.pointwise(self.depthwise(x))))


class BiFPNLayer(nn.Module):
    """One BiFPN layer over three scales: weighted top-down, then weighted bottom-up fusion."""

    def __init__(self, ch: int):
        super().__init__()
        self.td = nn.ModuleList(SeparableConv(ch) for _ in range(2))
        self.bu = nn.ModuleList(SeparableConv(ch) for _ in range(2))
        self.w_td = nn.Parameter(torch.ones(2, 2))
        self.w_bu = nn.Parameter(torch.ones(2, 3))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        w = F.relu(self.w_td)
        w = w / (w.sum(dim=1, keepdim=True) + 1e-4)
        p4_td = self.td[0](w[0, 0] * p4 + w[0, 1] * F.interpolate(p5, size=p4.shape[-2:]))
        p3_out = self.td[1](w[1, 0] * p3 + w[1, 1] * F.interpolate(p4_td, size=p3.shape[-2:]))
        v = F.relu(self.w_bu)
        v = v / (v.sum(dim=1, keepdim=True) + 1e-4)
        p4_out = self.bu[0](v[0, 0] * p4 + v[0, 1] * p4_td + v[0, 2] * F.max_pool2d(p3_out, 2, ceil_mode=True))
        p5_out = self.bu[1](v[1, 0] * p5 + v[1, 1] * F.max_pool2d(p4_out, 2, ceil_mode=True) + v[1, 2] * p5)
        return [p3_out, p4_out, p5_out]


class BEVTransformer(nn.Module):
    """BEV grid queries cross-attend to every camera's stride-32 features (with learned camera embeddings)."""

    def __init__(self, ch: int, grid: int, cameras: int, heads: int = 8, layers: int = 2):
        super().__init__()
        self.grid = grid
        self.queries = nn.Parameter(torch.randn(grid * grid, ch) * 0.02)
        self.camera_embed = nn.Parameter(torch.randn(cameras, 1, ch) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerDecoderLayer(ch, heads, 4 * ch, batch_first=True, norm_first=True, dropout=0.0)
            for _ in range(layers)
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        # feats: (N, cameras, C, h, w) -> memory (N, cameras*h*w, C)
        n, cams, ch, h, w = feats.shape
        memory = (feats.flatten(3).transpose(2, 3) + self.camera_embed).reshape(n, cams * h * w, ch)
        x = self.queries.unsqueeze(0).expand(n, -1, -1)
        for layer in self.layers:
            x = layer(x, memory)
        return x.transpose(1, 2).reshape(n, ch, self.grid, self.grid)


class VideoModule(nn.Module):
    """Temporal self-attention over the frame queue at every coarse BEV cell."""

    def __init__(self, ch: int, frames: int, heads: int = 8, layers: int = 2):
        super().__init__()
        self.time_embed = nn.Parameter(torch.randn(frames, ch) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(ch, heads, 4 * ch, batch_first=True, norm_first=True, dropout=0.0)
            for _ in range(layers)
        )

    def forward(self, bev: torch.Tensor) -> torch.Tensor:
        # bev: (B, T, C, g, g) -> cells (B*g*g, T, C); keep the latest frame's features
        b, t, ch, g, _ = bev.shape
        x = bev.permute(0, 3, 4, 1, 2).reshape(b * g * g, t, ch) + self.time_embed
        for layer in self.layers:
            x = layer(x)
        return x[:, -1].reshape(b, g, g, ch).permute(0, 3, 1, 2)


class FSDVideo(nn.Module):
    def __init__(
        self,
        cameras: int = 8,
        frames: int = 16,
        height: int = 960,
        width: int = 1280,
        bev: int = 200,
        channels: int = 256,
        occupancy_height: int = 16,
        lane_classes: int = 4,
        object_classes: int = 10,
    ):
        super().__init__()
        if bev % 4:
            raise ValueError(f"bev={bev} must be a multiple of 4 (the BEV transformer works at bev/4)")
        if height % 32 or width % 32:
            raise ValueError(f"height={height} and width={width} must be multiples of 32 (the backbone's stride)")
        self.cameras, self.frames, self.bev = cameras, frames, bev
        self.backbone = RegNetBackbone()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in self.backbone.out_channels)
        self.bifpn = nn.Sequential(*[BiFPNLayer(channels) for _ in range(2)])
        self.to_bev = BEVTransformer(channels, bev // 4, cameras)
        self.video = VideoModule(channels, frames)
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(),
            nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2),
            nn.BatchNorm2d(channels // 4),
            nn.ReLU(),
        )
        head_ch = channels // 4
        self.occupancy_head = nn.Conv2d(head_ch, occupancy_height, 1)
        self.lane_head = nn.Sequential(
            nn.Conv2d(head_ch, head_ch, 3, padding=1), nn.ReLU(), nn.Conv2d(head_ch, lane_classes, 1)
        )
        self.object_head = nn.Sequential(
            nn.Conv2d(head_ch, head_ch, 3, padding=1), nn.ReLU(), nn.Conv2d(head_ch, object_classes + 7, 1)
        )  # class heatmap + 3-D box

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        # clips: (B, T, cameras, 3, H, W)
        b, t, cams = clips.shape[:3]
        images = clips.flatten(0, 2)
        feats = [lat(f) for lat, f in zip(self.lateral, self.backbone(images), strict=True)]
        p5 = self.bifpn(feats)[2]
        p5 = p5.view(b * t, cams, *p5.shape[1:])
        bev = self.to_bev(p5)
        bev = self.video(bev.view(b, t, *bev.shape[1:]))
        bev = self.upsample(bev)
        return {"occupancy": self.occupancy_head(bev), "lanes": self.lane_head(bev), "objects": self.object_head(bev)}


def fsd_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    occupancy = F.binary_cross_entropy_with_logits(outputs["occupancy"].float(), targets["occupancy"].float())
    lanes = F.cross_entropy(outputs["lanes"].float(), targets["lanes"])
    objects = F.mse_loss(outputs["objects"].float(), targets["objects"].float())
    return occupancy + lanes + objects
