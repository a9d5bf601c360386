"""Fine-tuning the upright model's upper trunk blocks and head together (RotNet) on cached lower-trunk maps.

The trunk is cut after block ``tune_from - 1``: blocks ``0 .. tune_from - 1`` stay frozen (ImageNet
weights, run once per training sample in ONNX Runtime, their maps cached as float16 in the 4 turns of
each sample), blocks ``tune_from .. blocks - 1`` and the MLP head are trained on those maps with the 4
turns of each sample in the same batch. Batch norms keep ImageNet's running statistics (eval mode: the
small 4x4 maps and turn-balanced batches would give poor batch statistics); their scale and shift train.
The tuned blocks are exported as plain float32 arrays named after the trunk's state dict
(``blocks.8._expand_conv.weight`` ...), which ``upright_backbone.torch_trunk`` loads over the package's
weights before the ONNX export: the network is built from arrays, never from pickled code.
"""

from __future__ import annotations

import time

import numpy as np

from unshuffle.errors import ConfigError


def channel_stats(maps: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (+1e-3) (C,) float32 of maps (4, N, C, h, w), accumulated in float64 chunks."""
    s1 = np.zeros(maps.shape[2]), np.zeros(maps.shape[2])
    for a in range(0, maps.shape[1], chunk):
        x = maps[:, a:a + chunk].astype(np.float64)
        s1[0][:] += x.sum(axis=(0, 1, 3, 4))
        s1[1][:] += (x * x).sum(axis=(0, 1, 3, 4))
    count = maps.size / maps.shape[2]
    mean = s1[0] / count
    std = np.sqrt(np.maximum(s1[1] / count - mean * mean, 0.0)) + 1e-3
    return mean.astype(np.float32), std.astype(np.float32)


def optimizer_step(loss, opt, sched, log: list[float], where: str) -> None:
    """One step of ``opt`` and ``sched`` on ``loss``, its value appended to ``log``; a loss that is not
    finite raises ConfigError naming ``where`` (the step and what to lower)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    log.append(float(loss.detach()))
    if not np.isfinite(log[-1]):
        raise ConfigError(f"loss is {log[-1]} in {where}")


def head_arrays(head, mean: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    """The upright model's head arrays (``upright_model.HEAD_ARRAYS``, float32) from the torch MLP head
    (its layers 2 and 5 the linear ones) and the input's channel mean and std."""
    import torch

    lin1, lin2 = head[2], head[5]
    with torch.no_grad():
        arrays = {"mean": mean, "std": std, "hidden.weight": lin1.weight.numpy().copy(),
                  "hidden.bias": lin1.bias.numpy().copy(), "out.weight": lin2.weight.numpy().copy(),
                  "out.bias": lin2.bias.numpy().copy()}
    return {k: np.asarray(v, np.float32) for k, v in arrays.items()}


def upper_blocks(blocks: int, tune_from: int):
    """Torch module of Lite0's blocks ``tune_from .. blocks - 1`` (package weights, every parameter trainable).

    It maps (B, C, h, w) float32 maps after block ``tune_from - 1`` to the (B, C', h', w') map after block
    ``blocks - 1``; its state-dict names are ``blocks.i.*`` with i counted from ``tune_from`` (see
    ``upper_arrays``).
    """
    from torch import nn

    from unshuffle.fragments.learned.upright_backbone import torch_trunk

    trunk = torch_trunk(blocks)

    class Upper(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(trunk.blocks[tune_from:blocks])

        def forward(self, x):
            for b in self.blocks:
                x = b(x, drop_connect_rate=0)
            return x

    return Upper().requires_grad_(True)


def upper_arrays(upper, tune_from: int) -> dict[str, np.ndarray]:
    """The tuned blocks' float tensors (weights, BN scale/shift and running statistics) as float32 arrays,
    named as in ``torch_trunk``'s state dict (block i of the upper module is trunk block tune_from + i)."""
    out = {}
    for name, t in upper.state_dict().items():
        if not t.is_floating_point():  # BN's num_batches_tracked: an int counter, not used in eval mode
            continue
        _, i, rest = name.split(".", 2)
        out[f"blocks.{int(i) + tune_from}.{rest}"] = t.detach().cpu().numpy().astype(np.float32).copy()
    return out


def finetune(maps: np.ndarray, val_maps: np.ndarray, cfg, log_fh=None) -> tuple[dict, dict, dict]:
    """Train blocks ``cfg.tune_from .. cfg.blocks - 1`` and the MLP head on cached maps.

    maps: (4, N, C, h, w) float16 lower-trunk maps of N training samples, index r = the sample turned
    ``np.rot90(., r)``; val_maps: (4, V, C, h, w) of held-out whole images. Returns (head arrays as in
    ``upright_model.HEAD_ARRAYS``, trunk arrays (``upper_arrays``), metrics incl. the held-out one-view
    turn accuracy measured in torch).
    """
    import json

    import torch
    from torch import nn


    # ---------------------------------------------------------------- model
    torch.manual_seed(cfg.seed)
    upper = upper_blocks(cfg.blocks, cfg.tune_from)
    with torch.no_grad():  # the standardisation of the head's input: the initial upper maps' channel stats
        probe = maps[:, np.random.default_rng(cfg.seed).choice(maps.shape[1], min(2048, maps.shape[1]), False)]
        upper.eval()
        out0 = np.stack([upper(torch.from_numpy(probe[r].astype(np.float32))).numpy() for r in range(4)])
    mean, std = channel_stats(out0)
    c_out = int(np.prod(out0.shape[2:]))
    head = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c_out, cfg.hidden), nn.ReLU(),
                         nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 4))
    mu, sd = torch.from_numpy(mean)[None, :, None, None], torch.from_numpy(std)[None, :, None, None]

    def forward(x):
        return head((upper(x) - mu) / sd)

    # ---------------------------------------------------------------- optimiser and schedule
    n = maps.shape[1]
    per_step = max(1, cfg.batch // 4)  # samples per step, each in its 4 turns
    steps = max(1, int(cfg.epochs * n) // per_step)
    opt = torch.optim.AdamW([{"params": head.parameters(), "lr": cfg.lr},
                             {"params": upper.parameters(), "lr": cfg.trunk_lr}], weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.lr, cfg.trunk_lr], total_steps=steps,
                                                pct_start=0.1)
    rng = np.random.default_rng([cfg.seed, 2])
    labels = torch.arange(4).repeat_interleave(per_step)
    # ---------------------------------------------------------------- loop
    t0, log = time.time(), []
    order = rng.permutation(n)
    pos = 0
    for step in range(1, steps + 1):
        if pos + per_step > n:
            order, pos = rng.permutation(n), 0
        idx = np.sort(order[pos:pos + per_step])
        pos += per_step
        x = torch.from_numpy(maps[:, idx].astype(np.float32)).flatten(0, 1)  # (4 * per_step, C, h, w)
        upper.train()
        for m in upper.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        head.train()
        loss = nn.functional.cross_entropy(forward(x), labels)
        optimizer_step(loss, opt, sched, log, f"upright fine-tuning, step {step}: lower lr ({cfg.lr}) or trunk_lr "
                       f"({cfg.trunk_lr})")
        if log_fh is not None and (step % 100 == 0 or step == steps):
            rec = {"step": step, "of": steps, "loss": float(np.mean(log)), "seconds": time.time() - t0}
            if step % 1000 == 0 or step == steps:
                rec["val_turn_accuracy"] = torch_accuracy(forward, upper, head, val_maps)
            log_fh.write(json.dumps(rec) + "\n")
            log_fh.flush()
            log = []
    # ---------------------------------------------------------------- export
    arrays = head_arrays(head, mean, std)
    metrics = {"steps": steps, "samples_per_step": per_step, "seconds_finetune": time.time() - t0,
               "map_shape": [int(v) for v in out0.shape[2:]],
               "val_turn_accuracy_torch": torch_accuracy(forward, upper, head, val_maps)}
    return arrays, upper_arrays(upper, cfg.tune_from), metrics


def torch_accuracy(forward, upper, head, val_maps: np.ndarray, chunk: int = 512) -> float:
    """One-view turn accuracy on (4, V, C, h, w) held-out maps (eval mode; restores nothing: callers set modes)."""
    import torch

    upper.eval()
    head.eval()
    hits = []
    with torch.no_grad():
        for r in range(4):
            for a in range(0, val_maps.shape[1], chunk):
                z = forward(torch.from_numpy(val_maps[r, a:a + chunk].astype(np.float32)))
                hits.append((z.argmax(1) == r).numpy())
    return float(np.concatenate(hits).mean())
