"""Train a small MNIST-style convnet on synthetic 28x28 digit-like images.

The images are generated in memory: every class has a smooth random template and each
sample is that template, randomly shifted, plus pixel noise, so the task is learnable
without downloading MNIST.
"""
import argparse
import json
import random

import numpy as np
import mlflow
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser(description="Synthetic MNIST convnet")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--momentum", type=float, default=0.9)
parser.add_argument("--n-train", type=int, default=512)
parser.add_argument("--n-test", type=int, default=256)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--save-model", default="mnist_cnn.pt")
args = parser.parse_args()

random.seed(args.seed)
np.random.seed(args.seed)
torch.manual_seed(args.seed)

NUM_CLASSES = 10

# One smooth 28x28 template per class: random 7x7 blobs upsampled to 28x28.
coarse = torch.randn(NUM_CLASSES, 1, 7, 7)
templates = F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)


def make_split(n):
    labels = torch.randint(0, NUM_CLASSES, (n,))
    images = templates[labels].clone()
    shifts = torch.randint(-2, 3, (n, 2))
    for i in range(n):
        images[i] = torch.roll(images[i], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2))
    images = images + 2.0 * torch.randn_like(images)
    return TensorDataset(images, labels)


train_loader = DataLoader(make_split(args.n_train), batch_size=args.batch_size, shuffle=True)
test_loader = DataLoader(make_split(args.n_test), batch_size=256)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 12 * 12, 64)
        self.fc2 = nn.Linear(64, NUM_CLASSES)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.fc1(x))
        return self.fc2(x)


with mlflow.start_run():
    mlflow.log_params(vars(args))
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    for epoch in range(1, args.epochs + 1):
        model.train()
        running_loss = 0.0
        for data, target in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data), target)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * data.size(0)
        train_loss = running_loss / len(train_loader.dataset)

        model.eval()
        correct = 0
        test_loss = 0.0
        with torch.no_grad():
            for data, target in test_loader:
                output = model(data)
                test_loss += F.cross_entropy(output, target, reduction="sum").item()
                correct += (output.argmax(dim=1) == target).sum().item()
        test_loss /= len(test_loader.dataset)
        test_acc = correct / len(test_loader.dataset)
        mlflow.log_metrics({"train_loss": train_loss, "test_loss": test_loss, "test_accuracy": test_acc}, step=epoch)
        print(f"epoch {epoch}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, test acc {test_acc:.4f}")

    torch.save(model.state_dict(), args.save_model)
    with open("metrics.json", "w") as f:
        json.dump({"test_loss": test_loss, "test_accuracy": test_acc, "epochs": args.epochs}, f)
    mlflow.log_metric("final_test_accuracy", test_acc)
    mlflow.log_artifact(args.save_model)
print(f"final test accuracy: {test_acc:.4f}")
