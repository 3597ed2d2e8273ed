"""Character-level language model (small causal transformer) trained with PyTorch Lightning.

The corpus is synthetic: sentences generated from a tiny template grammar, so the model
has real structure to learn and no download is needed. Reports validation perplexity and
writes the weights, a vocabulary file and a generated text sample to --output-dir.
"""
import argparse
import json
import math
import random
from pathlib import Path

import lightning as L
import mlflow
import mlflow.pytorch
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

SUBJECTS = ["the cat", "a dog", "my friend", "the robot", "a small bird", "the teacher"]
VERBS = ["sees", "likes", "follows", "paints", "finds", "calls"]
OBJECTS = ["the ball", "a red kite", "the old tree", "her sister", "the moon", "a blue car"]
ENDINGS = [".", " today.", " again.", " at night."]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=Path("lm_output"))
    parser.add_argument("--num-sentences", type=int, default=600)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_corpus(num_sentences: int, rng: random.Random) -> str:
    sentences = [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(ENDINGS)}"
        for _ in range(num_sentences)
    ]
    return " ".join(sentences)


class CharVocabulary:
    def __init__(self, text: str) -> None:
        self.chars = sorted(set(text))
        self.index = {char: position for position, char in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.index[char] for char in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class ChunkDataset(Dataset):
    """Non-overlapping windows of seq_len + 1 characters: inputs and next-character targets."""

    def __init__(self, ids: torch.Tensor, seq_len: int) -> None:
        self.ids = ids
        self.seq_len = seq_len

    def __len__(self) -> int:
        return (len(self.ids) - 1) // self.seq_len

    def __getitem__(self, item: int):
        start = item * self.seq_len
        chunk = self.ids[start:start + self.seq_len + 1]
        return chunk[:-1], chunk[1:]


class GrammarDataModule(L.LightningDataModule):
    def __init__(self, num_sentences: int, seq_len: int, batch_size: int, seed: int) -> None:
        super().__init__()
        self.num_sentences = num_sentences
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        corpus = make_corpus(num_sentences, random.Random(seed))
        self.vocab = CharVocabulary(corpus)
        self.corpus = corpus

    def setup(self, stage: str | None = None) -> None:
        ids = self.vocab.encode(self.corpus)
        split = int(0.9 * len(ids))
        self.train_set = ChunkDataset(ids[:split], self.seq_len)
        self.val_set = ChunkDataset(ids[split:], self.seq_len)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)


class CharTransformerLM(L.LightningModule):
    def __init__(self, vocab_size: int, seq_len: int, d_model: int, num_heads: int, num_layers: int,
                 dropout: float, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(seq_len, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward=4 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        positions = torch.arange(length, device=ids.device)
        hidden = self.token_embedding(ids) + self.position_embedding(positions)
        causal_mask = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device)
        hidden = self.encoder(hidden, mask=causal_mask, is_causal=True)
        return self.head(self.norm(hidden))

    def _loss(self, batch) -> torch.Tensor:
        inputs, targets = batch
        logits = self(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_ppl", torch.exp(loss))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    @torch.no_grad()
    def generate(self, prompt_ids: torch.Tensor, num_new: int, temperature: float = 0.8) -> torch.Tensor:
        self.eval()
        ids = prompt_ids.unsqueeze(0)
        for _ in range(num_new):
            window = ids[:, -self.hparams.seq_len:]
            logits = self(window)[:, -1, :] / temperature
            next_id = torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)
            ids = torch.cat([ids, next_id], dim=1)
        return ids[0]


def build_trainer(args: argparse.Namespace) -> L.Trainer:
    return L.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
    )


def save_outputs(output_dir: Path, model: CharTransformerLM, data: GrammarDataModule, val_loss: float) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), output_dir / "char_lm.pt")
    (output_dir / "vocab.json").write_text(json.dumps(data.vocab.chars))
    sample = model.generate(data.vocab.encode("the "), num_new=80)
    (output_dir / "sample.txt").write_text(data.vocab.decode(sample) + "\n")
    (output_dir / "metrics.json").write_text(json.dumps({"val_loss": val_loss, "val_ppl": math.exp(val_loss)}))


def register_model(model: CharTransformerLM, data: GrammarDataModule, args: argparse.Namespace,
                   val_loss: float) -> None:
    """Log the trained language model with the pytorch flavour and register it (ids -> next-char logits)."""
    model.eval()
    input_example = data.vocab.encode(data.corpus[: args.seq_len]).unsqueeze(0).numpy()
    with mlflow.start_run():
        mlflow.log_params({"d_model": args.d_model, "num_layers": args.num_layers, "lr": args.lr})
        mlflow.log_metric("val_loss", val_loss)
        mlflow.pytorch.log_model(
            model,
            name="char_lm",
            input_example=input_example,
            registered_model_name="lightning-char-lm",
        )


def main(argv=None) -> None:
    args = parse_args(argv)
    seed_everything(args.seed)
    data = GrammarDataModule(args.num_sentences, args.seq_len, args.batch_size, args.seed)
    model = CharTransformerLM(
        vocab_size=len(data.vocab),
        seq_len=args.seq_len,
        d_model=args.d_model,
        num_heads=args.num_heads,
        num_layers=args.num_layers,
        dropout=args.dropout,
        lr=args.lr,
        weight_decay=args.weight_decay,
    )
    trainer = build_trainer(args)
    trainer.fit(model, datamodule=data)
    val_loss = float(trainer.callback_metrics["val_loss"])
    save_outputs(args.output_dir, model, data, val_loss)
    register_model(model, data, args, val_loss)
    print(f"final validation perplexity: {math.exp(val_loss):.3f}")


if __name__ == "__main__":
    main()
