"""One import run with the CKB Trainer, launched as 1 process or as N (`accelerate launch` / `torchrun`).

Used by `run.py --sections ddp`. Data order is deterministic across world sizes (`train_sampling_strategy=
"sequential"`: process r of N reads batches r, r + N, ... of the same sequence, so N per-device batches of B/N make
the same global batch of B as one process), every example has the same length and the loss is a plain mean, so the
mean over processes of each process's mean is the mean over the global batch: N processes must give the CKB of one.

    python benchmarks/perf/ddp_worker.py --out DIR --tokenizer TOKDIR --global-batch 32
    accelerate launch --num_processes 2 --cpu benchmarks/perf/ddp_worker.py --out DIR --tokenizer TOKDIR ...
"""

import argparse
import json
import os
import sys
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--tokenizer", required=True, help="A saved tokenizer folder (the same for every process).")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--global-batch", type=int, default=32)
    p.add_argument("--length", type=int, default=24, help="Tokens per example (longer snippets are truncated).")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", choices=["paper", "tiny"], default="paper")
    p.add_argument("--data", choices=["rotten_tomatoes", "random"], default="rotten_tomatoes",
                   help="Real snippets, or random token ids (no data loading: for the test).")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from transformers import AutoTokenizer

    from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
    from hf_ckb.networks import RNNConfig, RNNForSequenceClassification
    from hf_ckb.training import CKBTrainer, CKBTrainingModule, ckb_training_args

    from common import rotten_tomatoes_texts, tokenized_dataset

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    count = args.steps * args.global_batch // 2  # two epochs
    if args.data == "random":
        g = torch.Generator().manual_seed(0)
        data = [{"input_ids": torch.randint(2, len(tokenizer), (args.length,), generator=g).tolist(),
                 "attention_mask": [1] * args.length} for _ in range(count)]
    else:
        data = [ex for ex in tokenized_dataset(tokenizer, rotten_tomatoes_texts(), args.length)
                if len(ex["input_ids"]) == args.length][:count]
    sizes = {} if args.size == "paper" else dict(embedding_size=32, hidden_size=32)
    ckb_sizes = {} if args.size == "paper" else dict(num_low_level=3, low_level_size=4, high_level_size=5,
                                                     hidden_size=32)
    torch.manual_seed(0)
    host = RNNForSequenceClassification(RNNConfig(vocab_size=len(tokenizer), **sizes)).eval()
    ckb = CKBModel(CKBConfig(**ckb_sizes))
    module = CKBTrainingModule(ckb, {"rnn": InterfaceModel(host, ckb, InterfaceConfig())}, loss="mse")
    targs = ckb_training_args(args.out, "import", max_steps=args.steps, learning_rate=1e-3,
                              per_device_train_batch_size=args.global_batch // world,
                              train_sampling_strategy="sequential",
                              ddp_find_unused_parameters=False, use_cpu=True, seed=0, data_seed=0, disable_tqdm=True,
                              logging_steps=10**6, ddp_backend="gloo" if world > 1 else None)
    trainer = CKBTrainer(module, targs, train_datasets={"rnn": data}, tokenizers={"rnn": tokenizer})
    initial = {k: v.clone() for k, v in module.trainable_state_dict().items()}
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    if rank == 0:
        from safetensors.torch import save_file

        os.makedirs(args.out, exist_ok=True)
        save_file(module.trainable_state_dict(), os.path.join(args.out, "trainable.safetensors"))
        save_file(initial, os.path.join(args.out, "initial.safetensors"))
        with open(os.path.join(args.out, "run.json"), "w") as f:
            json.dump({"world_size": world, "threads_per_process": args.threads, "steps": trainer.state.global_step,
                       "seconds": elapsed, "examples_per_s": args.steps * args.global_batch / elapsed,
                       "cache": module.teacher_cache.stats() if module.teacher_cache is not None else None}, f)
    if torch.distributed.is_initialized():
        # Tear gloo down before exit: left to interpreter shutdown, its threads sometimes abort the process
        # ("terminate called without an active exception", exit -6), which failed about 1 run in 4.
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
