"""Run under torchrun (2 processes) or alone: gradients on one fixed global batch.

    torchrun --standalone --nproc_per_node 2 tests/helpers/ddp_grads.py OUT.pt [attrnet|gan]
    python tests/helpers/ddp_grads.py OUT.pt [attrnet|gan]        # single process, same global batch

Each process takes its contiguous half of the global batch (as the sharded sampler does), wraps the
networks in DDP (gloo, as the trainer does) and rank 0 saves the averaged gradients.

- ``attrnet``: the attribute network's classification losses. Batch norm runs with fixed statistics
  (eval mode): per-process batch statistics legitimately differ from whole-batch ones.
- ``gan``: the toy GAN's two WGAN-GP critics, three forward passes each (real, fake, interpolates) and a
  gradient penalty with ``create_graph=True`` before one backward, with fixed interpolation weights.
"""

import sys
from pathlib import Path

import torch

from fashionlab.engine import distributed
from fashionlab.models.attrnet import AttrNet, AttrNetModelConfig, LossWeights, attrnet_losses

sys.path.insert(0, str(Path(__file__).parent))


def attrnet_grads(info, rows):
    torch.manual_seed(0)
    attrs = [("a", ["x", "y", "z"]), ("b", ["p", "q"])]
    model = AttrNet(
        attrs, AttrNetModelConfig(width=0.125, conv67_channels=16, roi_size=2, fc_dim=16, rep_dim=8, global_dim=8)
    )
    model.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 64, 64, generator=g)
    y = torch.stack([torch.randint(0, 3, (8,), generator=g), torch.randint(0, 2, (8,), generator=g)], 1)
    net = distributed.wrap(model, info) if info.enabled else model
    # only the per-sample losses (classification) average exactly across shards
    w = LossWeights(triplet=0.0, global_triplet=0.0)
    loss, _ = attrnet_losses(net(x[rows]), y[rows], w)
    loss.backward()
    del net  # the DDP wrapper goes before the process group (see distributed.cleanup)
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def gan_grads(info, rows):
    from toy_gan import ToyD, critic_loss

    torch.manual_seed(0)
    nets = {"D_image": ToyD(3), "D_crop": ToyD(2)}
    wrapped = {k: distributed.wrap(n, info, broadcast_buffers=False) if info.enabled else n for k, n in nets.items()}
    g = torch.Generator().manual_seed(1)
    real = torch.rand(8, 3, 32, 32, generator=g) * 2 - 1
    fake = torch.rand(8, 3, 32, 32, generator=g) * 2 - 1
    alpha = torch.rand(8, generator=g)
    loss, _ = critic_loss(
        wrapped["D_image"],
        wrapped["D_crop"],
        real[rows],
        fake[rows],
        10.0,
        torch.autocast("cpu", enabled=False),
        alpha=alpha[rows],
    )
    loss.backward()
    del wrapped  # the DDP wrappers go before the process group (see distributed.cleanup)
    return {f"{k}.{n}": p.grad.clone() for k, net in nets.items() for n, p in net.named_parameters()}


def main(out: str, which: str = "attrnet") -> None:
    info = distributed.setup("cpu")
    per = 8 // info.world_size
    rows = slice(info.rank * per, (info.rank + 1) * per)
    grads = (gan_grads if which == "gan" else attrnet_grads)(info, rows)
    if info.is_main:
        torch.save(grads, out)
    distributed.cleanup(info)


if __name__ == "__main__":
    main(*sys.argv[1:])
