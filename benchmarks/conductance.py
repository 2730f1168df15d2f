"""Conductance of every layer in one pass vs Captum's per-layer ``LayerConductance`` loop.

On real ``disaster-response`` documents and the built-in encoder (6 and 2 layers), for
``n_steps`` 50 and 20, this measures documents per second of:

* Captum: ``LayerConductance`` called once per layer, documents padded to a fixed length;
* one pass, the same padded inputs (equal padding);
* one pass, documents sorted by length and padded per batch (dynamic padding);

with the same model, baselines, integration points and internal batch size, in one process
run, and prints ratios and the largest relative difference from Captum.  Usage:

    .venv/bin/python benchmarks/conductance.py [--documents 16] [--max-length 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from captum.attr import LayerConductance

from transferscout.encoders import EncoderSpec, load_encoder
from transferscout.signals.conductance import (
    baseline_embeddings,
    batch_documents,
    layer_conductance_all,
)
from transferscout.tasks import TaskOptions, load_corpus


def _captum_loop(model, input_ids, mask, special, n_steps, internal):
    embed = model.get_input_embeddings()
    with torch.no_grad():
        inputs = embed(input_ids)
        baseline = baseline_embeddings(embed, input_ids, mask, **special)
    token_types = torch.zeros_like(input_ids)

    def forward(embeds, attention_mask, types):
        return model(
            inputs_embeds=embeds, attention_mask=attention_mask, token_type_ids=types
        ).logits

    out = []
    for layer in model.base_model.encoder.layer:
        attributions = LayerConductance(forward, layer).attribute(
            inputs,
            baselines=baseline,
            target=1,
            additional_forward_args=(mask, token_types),
            n_steps=n_steps,
            internal_batch_size=internal,
        )
        out.append(attributions.sum(-1).detach().numpy())
    return np.stack(out)


def main() -> None:
    """Run every configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64, help="fixed padding length")
    parser.add_argument("--per-batch", type=int, default=8, help="documents per call")
    parser.add_argument("--internal-batch-size", type=int, default=256)
    parser.add_argument("--layers", type=int, nargs="+", default=[6, 2])
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 20])
    args = parser.parse_args()
    torch.set_num_threads(2)

    tasks = load_corpus("disaster-response", TaskOptions(tasks=("request",)))
    texts = list(tasks["request"].test.texts[: args.documents])
    print(
        f"{len(texts)} test documents of 'request', {args.per_batch} per call, internal batch "
        f"{args.internal_batch_size} rows, fixed padding {args.max_length} tokens; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads"
    )
    header = (
        f"{'layers':>6} {'steps':>5} {'captum doc/s':>12} {'one-pass doc/s':>14} {'ratio':>6} "
        f"{'dynamic doc/s':>13} {'ratio':>6} {'max rel diff':>12}"
    )
    print(header)
    print("-" * len(header))
    for layers in args.layers:
        encoder = load_encoder(EncoderSpec("all-MiniLM-L6-v2", num_layers=layers))
        model, tokenizer = encoder.model.eval(), encoder.tokenizer
        special = {"baseline": "pad", "fill_id": tokenizer.pad_token_id}
        fixed = tokenizer(
            texts,
            truncation=True,
            max_length=args.max_length,
            padding="max_length",
            return_tensors="pt",
        )
        ids = [
            tokenizer(t, truncation=True, max_length=args.max_length)["input_ids"] for t in texts
        ]
        order = np.argsort([len(x) for x in ids], kind="stable")
        for n_steps in args.steps:
            timings = {"captum": 0.0, "one": 0.0, "dynamic": 0.0}
            worst = 0.0
            for start in range(0, len(texts), args.per_batch):
                rows = slice(start, start + args.per_batch)
                input_ids, mask = fixed["input_ids"][rows], fixed["attention_mask"][rows]
                began = time.perf_counter()
                reference = _captum_loop(
                    model, input_ids, mask, special, n_steps, args.internal_batch_size
                )
                timings["captum"] += time.perf_counter() - began
                began = time.perf_counter()
                ours = layer_conductance_all(
                    model,
                    input_ids,
                    mask,
                    n_steps=n_steps,
                    internal_batch_size=args.internal_batch_size,
                    **special,
                )
                timings["one"] += time.perf_counter() - began
                worst = max(
                    worst, float(np.abs(ours.scores - reference).max() / np.abs(reference).max())
                )
                batch = [ids[i] for i in order[rows]]
                dyn_ids, dyn_mask = batch_documents(batch, tokenizer.pad_token_id)
                began = time.perf_counter()
                layer_conductance_all(
                    model,
                    dyn_ids,
                    dyn_mask,
                    n_steps=n_steps,
                    internal_batch_size=args.internal_batch_size,
                    **special,
                )
                timings["dynamic"] += time.perf_counter() - began
            rates = {k: len(texts) / v for k, v in timings.items()}
            print(
                f"{layers:>6} {n_steps:>5} {rates['captum']:>12.2f} {rates['one']:>14.2f} "
                f"{rates['one'] / rates['captum']:>5.2f}x {rates['dynamic']:>13.2f} "
                f"{rates['dynamic'] / rates['captum']:>5.2f}x {worst:>12.2e}"
            )


if __name__ == "__main__":
    main()
