"""Train a small convnet image classifier with PyTorch Lightning on synthetic images.

The images are 16x16 grey-scale "blobs": each class puts a bright square at its own
position, plus noise, so a small convnet can learn it in a couple of epochs.
"""
import json
import os
import random

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import MLFlowLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SEED = 7
NUM_CLASSES = 4
IMAGE_SIZE = 16
BATCH_SIZE = 64
MAX_EPOCHS = 2
LEARNING_RATE = 2e-3
HIDDEN_CHANNELS = 16
DROPOUT = 0.1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_blob_images(num_samples: int, generator: torch.Generator) -> TensorDataset:
    """Noise images with a bright 4x4 square placed at a class-specific corner."""
    labels = torch.randint(0, NUM_CLASSES, (num_samples,), generator=generator)
    images = 1.2 * torch.randn(num_samples, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    corners = [(2, 2), (2, 10), (10, 2), (10, 10)]
    for index, label in enumerate(labels.tolist()):
        row, col = corners[label]
        images[index, 0, row:row + 4, col:col + 4] += 0.6
    return TensorDataset(images, labels)


class ConvNetClassifier(L.LightningModule):
    def __init__(self, hidden_channels: int = HIDDEN_CHANNELS, lr: float = LEARNING_RATE,
                 dropout: float = DROPOUT) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.features = nn.Sequential(
            nn.Conv2d(1, hidden_channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(hidden_channels, hidden_channels * 2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(hidden_channels * 2 * (IMAGE_SIZE // 4) ** 2, NUM_CLASSES),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_acc", acc, prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    seed_everything(SEED)
    generator = torch.Generator().manual_seed(SEED)
    train_set = make_blob_images(768, generator)
    val_set = make_blob_images(256, generator)
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=BATCH_SIZE)

    model = ConvNetClassifier()
    # Respect the MLFLOW_TRACKING_URI of the environment (MLFlowLogger's own default is a local ./mlruns store).
    mlflow_logger = MLFlowLogger(
        experiment_name="lightning-image-classifier",
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),
    )
    mlflow_logger.log_hyperparams({"batch_size": BATCH_SIZE, "max_epochs": MAX_EPOCHS, "seed": SEED})
    trainer = L.Trainer(
        max_epochs=MAX_EPOCHS,
        accelerator="cpu",
        devices=1,
        logger=mlflow_logger,
        log_every_n_steps=4,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_loader, val_loader)

    val_acc = float(trainer.callback_metrics["val_acc"])
    torch.save(model.state_dict(), "classifier.pt")
    with open("metrics.json", "w") as handle:
        json.dump({"val_acc": val_acc, "epochs": MAX_EPOCHS}, handle)
    print(f"final val accuracy: {val_acc:.4f}")


if __name__ == "__main__":
    main()
