"""Tiny DCGAN on synthetic 16x16 grayscale images.

The "dataset" is generated on the fly: every image is a soft bright disc of random size and
position on a dark background, scaled to [-1, 1] like the usual DCGAN preprocessing. The
generator learns to draw such discs from a latent vector.
"""
import argparse
import json
import os
import random

import nncf
import numpy as np
import torch
import torch.nn as nn
from nncf.torch.function_hook.pruning.magnitude.schedulers import ExponentialMagnitudePruningScheduler
from torch.utils.data import DataLoader, TensorDataset

IMAGE_SIZE = 16


def parse_args():
    parser = argparse.ArgumentParser(description="DCGAN on synthetic discs")
    parser.add_argument("--n-images", type=int, default=256, help="size of the synthetic dataset")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--nz", type=int, default=16, help="size of the latent vector")
    parser.add_argument("--ngf", type=int, default=16, help="generator feature maps")
    parser.add_argument("--ndf", type=int, default=16, help="discriminator feature maps")
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--beta1", type=float, default=0.5, help="beta1 for Adam")
    parser.add_argument("--n-samples", type=int, default=64, help="images to sample at the end")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--outf", default=".", help="folder for the generator weights and samples")
    return parser.parse_args()


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_disc_images(n, size=IMAGE_SIZE):
    """Soft discs with random centre and radius, values in [-1, 1], shape (n, 1, size, size)."""
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    centres = torch.rand(n, 2) * (size - 6) + 3
    radii = torch.rand(n) * 3 + 2
    dist = torch.sqrt((yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2)
    images = torch.sigmoid((radii[:, None, None] - dist) * 2.0)
    return (images * 2 - 1).unsqueeze(1)


def weights_init(m):
    # DCGAN paper initialisation: N(0, 0.02) for convs, N(1, 0.02) for batch-norm scales.
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, nz, ngf):
        super().__init__()
        self.main = nn.Sequential(
            # latent nz x 1 x 1 -> (ngf*4) x 4 x 4
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # -> (ngf*2) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # -> 1 x 16 x 16
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, ndf):
        super().__init__()
        self.main = nn.Sequential(
            # 1 x 16 x 16 -> ndf x 8 x 8
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # -> (ndf*2) x 4 x 4
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # -> 1 x 1 x 1
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1)


def train_epoch(netG, netD, loader, optimizerG, optimizerD, criterion, nz):
    """One pass over the data; returns the mean discriminator and generator losses."""
    real_label, fake_label = 1.0, 0.0
    d_losses, g_losses = [], []
    for (real,) in loader:
        batch_size = real.size(0)
        # (1) Update D: maximise log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((batch_size,), real_label)
        errD_real = criterion(netD(real), label)
        errD_real.backward()
        noise = torch.randn(batch_size, nz, 1, 1)
        fake = netG(noise)
        label.fill_(fake_label)
        errD_fake = criterion(netD(fake.detach()), label)
        errD_fake.backward()
        optimizerD.step()

        # (2) Update G: maximise log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        errG = criterion(netD(fake), label)
        errG.backward()
        optimizerG.step()

        d_losses.append((errD_real + errD_fake).item())
        g_losses.append(errG.item())
    return float(np.mean(d_losses)), float(np.mean(g_losses))


@torch.no_grad()
def moment_distance(netG, real_images, nz, n=256):
    """Mean absolute gap between per-pixel mean and std of generated and real images (lower is better)."""
    netG.eval()
    fake = netG(torch.randn(n, nz, 1, 1))
    netG.train()
    mean_gap = (fake.mean(0) - real_images.mean(0)).abs().mean()
    std_gap = (fake.std(0) - real_images.std(0)).abs().mean()
    return float(mean_gap + std_gap)


def main():
    args = parse_args()
    set_seed(args.seed)
    os.makedirs(args.outf, exist_ok=True)

    real_images = make_disc_images(args.n_images)
    loader = DataLoader(TensorDataset(real_images), batch_size=args.batch_size, shuffle=True, drop_last=True)

    netG = Generator(args.nz, args.ngf)
    netG.apply(weights_init)
    netD = Discriminator(args.ndf)
    netD.apply(weights_init)

    # NNCF magnitude pruning of the generator: masks on its conv-transpose weights, with a
    # pruned share growing exponentially from 10% to 50% at the last epoch.
    prune_mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
    netG = nncf.prune(netG, mode=prune_mode, ratio=0.1, examples_inputs=torch.randn(2, args.nz, 1, 1))
    pruning_scheduler = ExponentialMagnitudePruningScheduler(
        netG, mode=prune_mode, initial_ratio=0.1, target_ratio=0.5, target_epoch=max(args.epochs - 1, 1)
    )

    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=args.lr, betas=(args.beta1, 0.999))

    history = []
    for epoch in range(args.epochs):
        pruning_scheduler.step(epoch)
        loss_d, loss_g = train_epoch(netG, netD, loader, optimizerG, optimizerD, criterion, args.nz)
        distance = moment_distance(netG, real_images, args.nz)
        history.append({"epoch": epoch, "loss_d": loss_d, "loss_g": loss_g, "moment_distance": distance})
        print(f"[{epoch + 1}/{args.epochs}] Loss_D: {loss_d:.4f} Loss_G: {loss_g:.4f} moment distance: {distance:.4f} "
              f"G pruning ratio: {nncf.pruning_statistic(netG).pruning_ratio:.2f}")

    print(nncf.pruning_statistic(netG))
    netG.eval()
    with torch.no_grad():
        samples = netG(torch.randn(args.n_samples, args.nz, 1, 1)).numpy()
    np.save(os.path.join(args.outf, "samples.npy"), samples)
    torch.save(netG.state_dict(), os.path.join(args.outf, "netG.pt"))
    with open(os.path.join(args.outf, "history.json"), "w") as f:
        json.dump(history, f, indent=2)
    print(f"final moment distance: {history[-1]['moment_distance']:.4f}")


if __name__ == "__main__":
    main()
