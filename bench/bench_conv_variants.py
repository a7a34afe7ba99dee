"""Same-math rewrites of StarGAN's slow layers, timed against the layers as they are (issue #15, §5).

    python bench/bench_conv_variants.py --threads 1 --repeat 5

A profile of the official-architecture generator (width 64, 6 residual blocks, 64 px, batch 16) shows two
layers running far below the residual blocks' convolution throughput: the 7x7 RGB head (64 -> 3 channels) and
the two 4x4 stride-2 transposed convolutions. Timed here, forward + backward (weight and input gradients):

- ``to_rgb``: the head as is, and with its weight padded by zero filters to 8 and 16 output channels (the same
  three outputs, sliced), the block size the CPU kernels prefer; and with the input in channels-last;
- ``transposed``: ``conv_transpose2d(k=4, s=2, p=1)`` 128 -> 64 at 32 -> 64 px, and the same function as one
  3x3 convolution to 4 x 64 channels followed by a pixel shuffle (each output phase's taps gathered from the
  4x4 kernel; the script checks the two agree).

The generator's input and output convs as the editors run them, forward + backward (``--code-dim``: the
manipulation code's channels, 34 for SynthFashion; AMGAN's ``cpu`` preset, 32 wide):

- ``stem``: the 7x7 conv over the image concatenated with the tiled code, and the same through
  :func:`~fashionlab.models.editing.networks.conv_with_tiled_code` (the image's channels convolved, the
  code's constant response from the kernel's in-image taps);
- ``heads``: the 7x7 RGB and attention heads as two convs, and as one conv to 4 channels on a channels-last
  input (what :class:`~fashionlab.models.editing.networks.Generator` does).

And the critic's last convolutions, on maps of 4x4 and 2x2 (batch 2 x ``--batch-size``: real and fake go
through the critic together): ``nn.Conv2d`` against :class:`~fashionlab.models.editing.networks.SmallMapConv2d`
(the same weights, computed as one matrix product over the unfolded input), each timed for the critic's
work: forward, the input gradient with a graph (the gradient penalty's) and the backward through both (the
double backward). The 1024 -> 2048 conv on the 2x2 map is also timed with its full 4x4 kernel, as the
official layout stores it (``conv_on_map`` keeps only the 2x2 centre: the other taps only see padding).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from fashionlab.models.editing.networks import SmallMapConv2d, conv_with_tiled_code


def timed(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The (4 * out, in, 3, 3) conv weight equivalent to ``conv_transpose2d(weight, stride=2, padding=1)``
    (``weight``: (in, out, 4, 4)) when followed by ``pixel_shuffle(2)``: output row 2i + a takes input row
    i + d through kernel row a + 1 - 2d (d in -1, 0, 1), and likewise for columns."""
    cin, cout = weight.shape[:2]
    phases = weight.new_zeros(2, 2, cout, cin, 3, 3)
    for a in range(2):
        for b in range(2):
            for dy in (-1, 0, 1):
                ky = a + 1 - 2 * dy
                for dx in (-1, 0, 1):
                    kx = b + 1 - 2 * dx
                    if 0 <= ky < 4 and 0 <= kx < 4:
                        phases[a, b, :, :, dy + 1, dx + 1] = weight[:, :, ky, kx].t()
    return phases.permute(2, 0, 1, 3, 4, 5).reshape(cout * 4, cin, 3, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--code-dim", type=int, default=34, help="manipulation code channels (SynthFashion: 34)")
    ap.add_argument("--width", type=int, default=32, help="generator width (AMGAN's cpu preset: 32)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b = args.batch_size
    x = torch.randn(b, 64, 64, 64, requires_grad=True)
    x_cl = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    w = torch.randn(3, 64, 7, 7, requires_grad=True)

    def head(pad: int, inp: torch.Tensor):
        def run():
            weight = torch.cat([w, w.new_zeros(pad, 64, 7, 7)]) if pad else w
            F.conv2d(inp, weight, padding=3)[:, :3].sum().backward()

        return run

    xt = torch.randn(b, 128, 32, 32, requires_grad=True)
    wt = torch.randn(128, 64, 4, 4, requires_grad=True)
    reference = F.conv_transpose2d(xt, wt, stride=2, padding=1)
    rewritten = F.pixel_shuffle(F.conv2d(xt, subpixel_weight(wt), padding=1), 2)
    diff = (reference - rewritten).abs().max().item()
    assert diff < 1e-3 * reference.abs().max().item(), diff

    def transposed():
        F.conv_transpose2d(xt, wt, stride=2, padding=1).sum().backward()

    def shuffled():
        F.pixel_shuffle(F.conv2d(xt, subpixel_weight(wt), padding=1), 2).sum().backward()

    def critic_work(conv: torch.nn.Module, inp: torch.Tensor):
        def run():
            conv.zero_grad(set_to_none=True)
            y = conv(inp)
            (grad,) = torch.autograd.grad(y.sum(), inp, create_graph=True)
            (y.square().mean() + grad.square().mean()).backward()

        return run

    small_maps = []
    for cin, cout, kernel, padding, side, label in [
        (1024, 2048, 4, 1, 2, "official critic's last conv, full 4x4 kernel"),
        (1024, 2048, 2, 0, 2, "official critic's last conv, 2x2 live centre"),
        (512, 1024, 4, 1, 4, "official critic's fifth conv"),
        (256, 512, 4, 1, 4, "`cpu` preset critic's last conv"),
    ]:
        plain = torch.nn.Conv2d(cin, cout, kernel, 2, padding)
        product = SmallMapConv2d(cin, cout, kernel, 2, padding)
        product.load_state_dict(plain.state_dict())
        inp = torch.randn(2 * b, cin, side, side, requires_grad=True)
        gap = (plain(inp) - product(inp)).abs().max().item()
        assert gap < 1e-4 * plain(inp).abs().max().item(), (label, gap)
        name = f"{label}: {cin}->{cout}, {kernel}x{kernel} on {side}x{side}, batch {2 * b}"
        small_maps += [
            (f"{name}, nn.Conv2d", critic_work(plain, inp)),
            (f"{name}, SmallMapConv2d", critic_work(product, inp)),
        ]

    width, side = args.width, 64
    image, code = torch.randn(b, 3, side, side), torch.randn(b, args.code_dim)
    stem = torch.nn.Conv2d(3 + args.code_dim, width, 7, 1, 3, bias=False)
    tiled = torch.cat([image, code[:, :, None, None].expand(-1, -1, side, side)], 1)
    gap = (stem(tiled) - conv_with_tiled_code(stem, image, code)).abs().max().item()
    assert gap < 1e-4 * stem(tiled).abs().max().item(), gap
    features = torch.randn(b, width, side, side, requires_grad=True)
    rgb_head, mask_head = torch.nn.Conv2d(width, 3, 7, 1, 3, bias=False), torch.nn.Conv2d(width, 1, 7, 1, 3)

    def stem_tiled():
        stem(torch.cat([image, code[:, :, None, None].expand(-1, -1, side, side)], 1)).sum().backward()

    def stem_split():
        conv_with_tiled_code(stem, image, code).sum().backward()

    def heads_separate():
        (torch.tanh(rgb_head(features)).sum() + torch.sigmoid(mask_head(features)).sum()).backward()

    def heads_fused():
        both = F.conv2d(
            features.contiguous(memory_format=torch.channels_last),
            torch.cat([rgb_head.weight, mask_head.weight]),
            torch.cat([mask_head.bias.new_zeros(3), mask_head.bias]),
            padding=3,
        )
        (torch.tanh(both[:, :3]).sum() + torch.sigmoid(both[:, 3:]).sum()).backward()

    generator_rows = [
        (f"stem {3 + args.code_dim}->{width} 7x7, tiled code concatenated", stem_tiled),
        ("the same, conv_with_tiled_code", stem_split),
        (f"heads {width}->3 (tanh) and {width}->1 (sigmoid) 7x7, two convs", heads_separate),
        ("the same, one conv to 4 channels, channels-last input", heads_fused),
    ]

    rows = [
        ("to_rgb 64->3, as is", head(0, x)),
        ("to_rgb padded to 8 outputs", head(5, x)),
        ("to_rgb padded to 16 outputs", head(13, x)),
        ("to_rgb, channels-last input", head(0, x_cl)),
        ("transposed 128->64, 32->64 px, as is", transposed),
        ("the same as 3x3 conv + pixel shuffle", shuffled),
    ]
    print(f"max |difference| of the rewritten transposed conv: {diff:.2e}\n")
    print(f"| layer (forward + backward, batch {b}, {args.threads} thread(s)) | ms |\n|---|---|")
    for name, fn in rows:
        print(f"| {name} | {timed(fn, args.repeat):.0f} |")
    print(f"\n| generator input/output convs (forward + backward, batch {b}, 64 px, {args.threads} thread(s)) | ms |")
    print("|---|---|")
    for name, fn in generator_rows:
        print(f"| {name} | {timed(fn, args.repeat):.0f} |")
    print(f"\n| critic conv (forward, input gradient with graph, double backward; {args.threads} thread(s)) | ms |")
    print("|---|---|")
    for name, fn in small_maps:
        print(f"| {name} | {timed(fn, args.repeat):.0f} |")


if __name__ == "__main__":
    main()
