"""Tabular regression with PyTorch Lightning: a LightningDataModule that builds a synthetic
table (numeric features plus a one-hot categorical column) and a LightningModule MLP regressor.
"""
import argparse
import json
from pathlib import Path

import lightning as L
import mlflow
import mlflow.pytorch
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lightning tabular regression on synthetic data")
    parser.add_argument("--num-samples", type=int, default=3000)
    parser.add_argument("--num-features", type=int, default=10)
    parser.add_argument("--num-categories", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--output-dir", default="outputs")
    return parser.parse_args()


class SyntheticTableDataModule(L.LightningDataModule):
    """Numeric features ~ N(0, 1) plus a categorical column with a per-category offset on the target."""

    def __init__(self, num_samples: int, num_features: int, num_categories: int, batch_size: int, seed: int) -> None:
        super().__init__()
        self.num_samples = num_samples
        self.num_features = num_features
        self.num_categories = num_categories
        self.batch_size = batch_size
        self.seed = seed

    @property
    def input_dim(self) -> int:
        return self.num_features + self.num_categories

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        numeric = torch.randn(self.num_samples, self.num_features, generator=generator)
        category = torch.randint(0, self.num_categories, (self.num_samples,), generator=generator)
        weights = torch.randn(self.num_features, generator=generator)
        offsets = torch.linspace(-1.0, 1.0, self.num_categories)
        target = numeric @ weights + torch.sin(2 * numeric[:, 0]) + offsets[category]
        target = target + 0.1 * torch.randn(self.num_samples, generator=generator)
        features = torch.cat([numeric, F.one_hot(category, self.num_categories).float()], dim=1)
        dataset = TensorDataset(features, target.unsqueeze(1))
        n_val = n_test = self.num_samples // 10
        self.train_set, self.val_set, self.test_set = random_split(
            dataset, [self.num_samples - n_val - n_test, n_val, n_test], generator=generator
        )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=512)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=512)


class TabularRegressor(L.LightningModule):
    def __init__(self, input_dim: int, hidden_dim: int, dropout: float, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)

    def training_step(self, batch, batch_idx):
        features, target = batch
        loss = F.mse_loss(self(features), target)
        self.log("train_mse", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        features, target = batch
        self.log("val_mse", F.mse_loss(self(features), target), prog_bar=True)

    def test_step(self, batch, batch_idx):
        features, target = batch
        prediction = self(features)
        self.log("test_mse", F.mse_loss(prediction, target))
        self.log("test_mae", F.l1_loss(prediction, target))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


def main() -> None:
    args = parse_args()
    L.seed_everything(args.seed, verbose=False)
    data = SyntheticTableDataModule(args.num_samples, args.num_features, args.num_categories, args.batch_size,
                                    args.seed)
    model = TabularRegressor(data.input_dim, args.hidden_dim, args.dropout, args.lr, args.weight_decay)
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=data)
    val_mse = float(trainer.callback_metrics["val_mse"])
    test_metrics = trainer.test(model, datamodule=data, verbose=False)[0]

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), output_dir / "regressor.pt")
    with open(output_dir / "metrics.json", "w") as handle:
        json.dump({"val_mse": val_mse, **test_metrics}, handle, indent=2)
    # Register the trained network (a LightningModule is an nn.Module) with the pytorch flavour.
    model.eval()
    input_example = data.test_set[:5][0].numpy()
    with mlflow.start_run():
        mlflow.log_params(vars(args))
        mlflow.log_metrics({"val_mse": val_mse, "test_mse": test_metrics["test_mse"]})
        mlflow.pytorch.log_model(
            model,
            name="model",
            input_example=input_example,
            registered_model_name="lightning-tabular-regression",
        )
    print(f"final test mse: {test_metrics['test_mse']:.4f}")


if __name__ == "__main__":
    main()
