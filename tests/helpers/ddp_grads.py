"""Run under torchrun (2 processes) or alone: gradients of AttrNet on one fixed global batch.

    torchrun --standalone --nproc_per_node 2 tests/helpers/ddp_grads.py OUT.pt
    python tests/helpers/ddp_grads.py OUT.pt        # single process, same global batch

Each process takes its contiguous half of the global batch (as the sharded sampler does), wraps the
model in DDP (gloo), and rank 0 saves the averaged gradients. Batch norm runs with fixed statistics
(eval mode): per-process batch statistics legitimately differ from whole-batch ones.
"""

import sys

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from fashionlab.engine import distributed
from fashionlab.models.attrnet import AttrNet, AttrNetModelConfig, LossWeights, attrnet_losses


def main(out: str) -> None:
    info = distributed.setup("cpu")
    torch.manual_seed(0)
    attrs = [("a", ["x", "y", "z"]), ("b", ["p", "q"])]
    model = AttrNet(
        attrs, AttrNetModelConfig(width=0.125, conv67_channels=16, roi_size=2, fc_dim=16, rep_dim=8, global_dim=8)
    )
    model.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 64, 64, generator=g)
    y = torch.stack([torch.randint(0, 3, (8,), generator=g), torch.randint(0, 2, (8,), generator=g)], 1)
    per = 8 // info.world_size
    xs, ys = x[info.rank * per : (info.rank + 1) * per], y[info.rank * per : (info.rank + 1) * per]
    net = DDP(model) if info.enabled else model
    # only the per-sample losses (classification) average exactly across shards
    w = LossWeights(triplet=0.0, global_triplet=0.0)
    loss, _ = attrnet_losses(net(xs), ys, w)
    loss.backward()
    if info.is_main:
        torch.save({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}, out)
    distributed.cleanup(info)


if __name__ == "__main__":
    main(sys.argv[1])
