"""PyTorch peer of bench/train-step-worker.ts and bench/generate-worker.ts: the
reference config (bench/reference-config.ts) as a plain-PyTorch Llama.

    python3 bench/peers/llama.py train    --threads 2 --vocab 512 --hidden 256 --layers 4 --heads 4 --kv-heads 2 --mlp 688
    python3 bench/peers/llama.py generate --threads 2 --vocab 512 ... --batches 1,16 --prompt 16 --new-tokens 64

The model is written out here (no `transformers`): RMSNorm, rotary embeddings
("rotate half", θ = 10000), grouped-query attention with a causal mask, SwiGLU
MLP, untied head, no biases, float32, initialised N(0, 0.02²) with norm gains 1,
as transformers and stepwise's initParams do.

  train     one step = forward + mean token cross-entropy + backward + global-norm
            clip (1.0) + AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay
            0.01 on matrices only; the single-tensor loop, i.e. fused=False and
            foreach=False where this torch has them). The loss is read (.item())
            every step. Figure: tokens/s = batch·seq / median step time.
  generate  KV-cached greedy decoding of --new-tokens tokens after a --prompt-token
            prompt, for each batch size: the timed run is prefill + every decode
            step, with a preallocated fixed-capacity cache written in place
            and sliced to the filled slots (stepwise rewrites its cache with a
            `where` and attends over every slot, masked). Figure: decode tokens/s = batch·new_tokens / run time
            (prefill included), as in bench/generate-worker.ts.

Protocol and contention check: bench/measure.ts, as in peers/matmul.py (whose
measure() this imports): one untimed first run, --warmup more, then timed runs
until --min-reps and --min-seconds; the contention is measured and printed, and
with --attempts > 1 a disturbed measurement is retried (default 1: the caller's
rounds are the retry, see bench/model-bench.ts).

Threads: OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = --threads, torch.set_num_threads,
and OMP_WAIT_POLICY=PASSIVE (unless set): torch's OpenMP pool and OpenBLAS's
pthread pool otherwise spin against each other on a small machine.
"""

import argparse
import inspect
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # importing matmul.py must not leave a __pycache__ in the repository
from matmul import measure  # noqa: E402 (same directory: the shared protocol: warm-up, median, contention)

SEED = 20240601


def build(torch, args):
    nn = torch.nn
    F = torch.nn.functional
    C, N, K, V, Fw = args.hidden, args.heads, args.kv_heads, args.vocab, args.mlp
    H = C // N
    G = N // K
    eps = 1e-6

    class RMSNorm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.weight

    def rope(x, cos, sin):  # x [B, heads, T, H]; cos, sin [T, H/2]
        x1, x2 = x[..., : H // 2], x[..., H // 2 :]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(C)
            self.q_proj = nn.Linear(C, N * H, bias=False)
            self.k_proj = nn.Linear(C, K * H, bias=False)
            self.v_proj = nn.Linear(C, K * H, bias=False)
            self.o_proj = nn.Linear(N * H, C, bias=False)
            self.post_attention_layernorm = RMSNorm(C)
            self.gate_proj = nn.Linear(C, Fw, bias=False)
            self.up_proj = nn.Linear(C, Fw, bias=False)
            self.down_proj = nn.Linear(Fw, C, bias=False)

        def forward(self, x, cos, sin, mask, cache=None, offset=0):
            B, T, _ = x.shape
            h = self.input_layernorm(x)
            q = self.q_proj(h).view(B, T, N, H).transpose(1, 2)  # [B, N, T, H]
            k = self.k_proj(h).view(B, T, K, H).transpose(1, 2)  # [B, K, T, H]
            v = self.v_proj(h).view(B, T, K, H).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if cache is not None:  # fixed-capacity [B, K, S, H] buffers, written in place
                cache[0][:, :, offset : offset + T] = k
                cache[1][:, :, offset : offset + T] = v
                k, v = cache[0][:, :, : offset + T], cache[1][:, :, : offset + T]
            k = k.repeat_interleave(G, dim=1)  # [B, N, S, H] (transformers' repeat_kv)
            v = v.repeat_interleave(G, dim=1)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(H)  # [B, N, T, S]
            scores = scores.masked_fill(~mask, float("-inf"))
            att = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, N * H)
            x = x + self.o_proj(att)
            h = self.post_attention_layernorm(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(V, C)
            self.layers = nn.ModuleList([Block() for _ in range(args.layers)])
            self.norm = RMSNorm(C)
            self.lm_head = nn.Linear(C, V, bias=False)
            inv = 1.0 / (10000.0 ** (torch.arange(0, H, 2, dtype=torch.float64) / H))
            self.register_buffer("inv_freq", inv.float(), persistent=False)
            for name, p in self.named_parameters():
                if p.ndim >= 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, ids, cache=None, offset=0, last_only=False):
            B, T = ids.shape
            S = offset + T
            pos = torch.arange(offset, S, dtype=torch.float32)
            freqs = pos[:, None] * self.inv_freq[None, :]  # [T, H/2]
            cos, sin = freqs.cos(), freqs.sin()
            mask = torch.arange(S)[None, :] <= pos.long()[:, None]  # [T, S] causal
            x = self.embed_tokens(ids)
            for i, layer in enumerate(self.layers):
                x = layer(x, cos, sin, mask, None if cache is None else cache[i], offset)
            if last_only:
                x = x[:, -1:]
            return self.lm_head(self.norm(x))

    return Llama()


def adamw(torch, model):
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {}
    sig = inspect.signature(torch.optim.AdamW).parameters
    for flag in ("fused", "foreach"):
        if flag in sig:
            kw[flag] = False
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **kw), kw


def protocol(args):
    """measure()'s keyword arguments from the command line."""
    return {
        "warmup": args.warmup,
        "min_reps": args.min_reps,
        "min_seconds": args.min_seconds,
        "attempts": args.attempts,
        "quiet_seconds": args.quiet_seconds,
    }


def emit(bench, params, value, unit):
    figure = {"bench": bench, "impl": "pytorch", "params": params, "value": value, "unit": unit}
    print(json.dumps(figure), flush=True)


def note(med, best, reps, others, attempts):
    s = f"median {med * 1e3:.1f} ms over {reps} reps (best {best * 1e3:.1f} ms"
    s += "" if others is None else f", others used {others:.2f} cores"
    s += f", after {attempts} attempts" if attempts > 1 else ""
    return s + ")"


def run_train(torch, args):
    model = build(torch, args)
    opt, kw = adamw(torch, model)
    F = torch.nn.functional
    g = torch.Generator().manual_seed(SEED + 1)
    batches = [torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=g) for _ in range(4)]
    i = [0]

    def step():
        tokens = batches[i[0] % len(batches)]
        i[0] += 1
        logits = model(tokens[:, :-1])  # [B, T, V]
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    first = step()
    med, best, reps, others, attempts = measure(step, **protocol(args))
    tokens = args.batch * args.seq
    params = {"batch": args.batch, "seq": args.seq, "threads": args.threads}
    emit(args.bench_name, params, tokens / med, "tokens/s")
    print(
        f"train_step threads={args.threads} (torch {torch.__version__}, get_num_threads={torch.get_num_threads()},"
        f" AdamW {kw}): first loss {first:.4f}; {note(med, best, reps, others, attempts)}",
        file=sys.stderr,
        flush=True,
    )


def run_generate(torch, args):
    model = build(torch, args)
    model.eval()
    K, H = args.kv_heads, args.hidden // args.heads
    capacity = args.prompt + args.new_tokens
    g = torch.Generator().manual_seed(SEED + 2)
    for batch in [int(b) for b in args.batches.split(",")]:
        prompt = torch.randint(0, args.vocab, (batch, args.prompt), generator=g)
        cache = [
            (torch.zeros(batch, K, capacity, H), torch.zeros(batch, K, capacity, H)) for _ in range(args.layers)
        ]

        def decode():
            with torch.no_grad():
                logits = model(prompt, cache=cache, offset=0, last_only=True)  # prefill
                out = []
                offset = args.prompt
                for t in range(args.new_tokens):
                    token = logits[:, -1].argmax(-1, keepdim=True)  # [B, 1], greedy
                    out.append(token)
                    if t + 1 < args.new_tokens:  # the last token is never fed back
                        logits = model(token, cache=cache, offset=offset, last_only=True)
                        offset += 1
                return torch.cat(out, 1).tolist()

        med, best, reps, others, attempts = measure(decode, **protocol(args))
        params = {
            "batch": batch,
            "prompt": args.prompt,
            "new_tokens": args.new_tokens,
            "prefill": "included",
            "threads": args.threads,
        }
        emit("generate", params, batch * args.new_tokens / med, "tokens/s")
        print(
            f"generate batch={batch} threads={args.threads}: {note(med, best, reps, others, attempts)}",
            file=sys.stderr,
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["train", "generate"])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--bench-name", default="train_step", help="the figure's bench name in train mode")
    for flag in ("--vocab", "--hidden", "--layers", "--heads", "--kv-heads", "--mlp"):
        parser.add_argument(flag, type=int, required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--min-reps", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--quiet-seconds", type=float, default=10.0)
    args = parser.parse_args()

    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    # OpenMP (elementwise ops) and OpenBLAS (matmuls) each keep a spinning pool: passive
    # OpenMP waiting stops them fighting over the cores (see bench/model-bench.ts, llamaPeerEnv).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch  # noqa: PLC0415 (after the thread-count variables, which OpenBLAS reads when it loads)

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    if args.mode == "train":
        run_train(torch, args)
    else:
        run_generate(torch, args)


if __name__ == "__main__":
    main()
