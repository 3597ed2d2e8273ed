"""DQN on a tiny hand-written corridor environment, trained inside a PyTorch Lightning module.

The agent starts in the middle of a corridor and must walk to the goal at the right end; the
left end is a trap. A replay buffer feeds an IterableDataset so Lightning drives the updates.
"""
import argparse
import json
import random
from collections import deque, namedtuple
from typing import Iterator

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, IterableDataset

Transition = namedtuple("Transition", ["state", "action", "reward", "done", "next_state"])


class CorridorEnv:
    """Positions 0..length-1; action 0 moves left, 1 moves right. Goal: right end (+1); trap: left end (-1)."""

    def __init__(self, length: int = 9, max_steps: int = 30, seed: int = 0) -> None:
        self.length = length
        self.max_steps = max_steps
        self.rng = random.Random(seed)
        self.position = 0
        self.steps = 0

    @property
    def num_actions(self) -> int:
        return 2

    def observation(self) -> np.ndarray:
        one_hot = np.zeros(self.length, dtype=np.float32)
        one_hot[self.position] = 1.0
        return one_hot

    def reset(self) -> np.ndarray:
        # Start somewhere in the middle third so both ends are reachable.
        third = self.length // 3
        self.position = self.rng.randint(third, self.length - 1 - third)
        self.steps = 0
        return self.observation()

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        self.steps += 1
        self.position += 1 if action == 1 else -1
        if self.position >= self.length - 1:
            return self.observation(), 1.0, True
        if self.position <= 0:
            return self.observation(), -1.0, True
        return self.observation(), -0.01, self.steps >= self.max_steps


class ReplayBuffer:
    def __init__(self, capacity: int) -> None:
        self.memory: deque[Transition] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.memory)

    def append(self, transition: Transition) -> None:
        self.memory.append(transition)


class ReplayDataset(IterableDataset):
    """Yields `num_samples` transitions drawn from the replay buffer, which keeps growing while it is read."""

    def __init__(self, buffer: ReplayBuffer, num_samples: int) -> None:
        self.buffer = buffer
        self.num_samples = num_samples

    def __iter__(self) -> Iterator:
        for _ in range(self.num_samples):
            transition = random.choice(self.buffer.memory)
            yield (transition.state, transition.action, transition.reward, transition.done, transition.next_state)


class QNetwork(nn.Module):
    def __init__(self, observation_size: int, num_actions: int, hidden_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(observation_size, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, num_actions),
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)


class Agent:
    def __init__(self, env: CorridorEnv, buffer: ReplayBuffer) -> None:
        self.env = env
        self.buffer = buffer
        self.state = env.reset()

    def act(self, q_network: QNetwork, epsilon: float) -> int:
        if random.random() < epsilon:
            return random.randrange(self.env.num_actions)
        with torch.no_grad():
            q_values = q_network(torch.from_numpy(self.state).unsqueeze(0))
        return int(q_values.argmax(dim=1).item())

    def play_step(self, q_network: QNetwork, epsilon: float) -> tuple[float, bool]:
        action = self.act(q_network, epsilon)
        next_state, reward, done = self.env.step(action)
        self.buffer.append(Transition(self.state, action, reward, done, next_state))
        self.state = self.env.reset() if done else next_state
        return reward, done


PRUNING_SCHEDULE = {100: 0.2, 200: 0.35, 300: 0.5}  # global step -> cumulative sparsity of each Linear weight


def effective_state_dict(network: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with pruned weights as plain `weight` entries (masks applied), loadable by an unpruned copy."""
    state = {}
    for module_name, module in network.named_modules():
        for param_name, param in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            if param_name.endswith("_mask"):
                continue
            name = param_name.removesuffix("_orig")
            state[f"{module_name}.{name}" if module_name else name] = getattr(module, name).detach().clone()
    return state


class DQNLightning(L.LightningModule):
    def __init__(self, corridor_length: int = 9, hidden_size: int = 32, lr: float = 1e-3, gamma: float = 0.95,
                 batch_size: int = 32, buffer_size: int = 2000, warm_start_steps: int = 200,
                 sync_rate: int = 20, eps_start: float = 1.0, eps_end: float = 0.05, eps_decay_steps: int = 300,
                 steps_per_epoch: int = 200, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.env = CorridorEnv(corridor_length, seed=seed)
        self.q_network = QNetwork(corridor_length, self.env.num_actions, hidden_size)
        self.target_network = QNetwork(corridor_length, self.env.num_actions, hidden_size)
        self.target_network.load_state_dict(self.q_network.state_dict())
        self.buffer = ReplayBuffer(buffer_size)
        self.agent = Agent(self.env, self.buffer)
        self.episode_return = 0.0
        self.completed_returns: list[float] = []
        self.fill_buffer(warm_start_steps)

    def fill_buffer(self, steps: int) -> None:
        for _ in range(steps):
            self.agent.play_step(self.q_network, epsilon=1.0)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.q_network(observations)

    def epsilon(self) -> float:
        fraction = min(1.0, self.global_step / self.hparams.eps_decay_steps)
        return self.hparams.eps_start + fraction * (self.hparams.eps_end - self.hparams.eps_start)

    def dqn_loss(self, batch) -> torch.Tensor:
        states, actions, rewards, dones, next_states = batch
        q_taken = self.q_network(states).gather(1, actions.long().unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            next_values = self.target_network(next_states).max(dim=1).values
            next_values[dones.bool()] = 0.0
            targets = rewards.float() + self.hparams.gamma * next_values
        return F.smooth_l1_loss(q_taken, targets)

    def training_step(self, batch, batch_idx):
        # One environment step per gradient step.
        reward, done = self.agent.play_step(self.q_network, self.epsilon())
        self.episode_return += reward
        if done:
            self.completed_returns.append(self.episode_return)
            self.episode_return = 0.0

        loss = self.dqn_loss(batch)
        if self.global_step in PRUNING_SCHEDULE:
            self.prune_q_network(PRUNING_SCHEDULE[self.global_step])
        if self.global_step % self.hparams.sync_rate == 0:
            self.target_network.load_state_dict(effective_state_dict(self.q_network))

        self.log("train_loss", loss, on_step=False, on_epoch=True)
        self.log("epsilon", self.epsilon(), on_step=False, on_epoch=True)
        return loss

    def linear_layers(self) -> list[nn.Linear]:
        return [module for module in self.q_network.modules() if isinstance(module, nn.Linear)]

    def prune_q_network(self, sparsity: float) -> None:
        # L1 magnitude pruning; on an already pruned weight the amount applies to the remaining entries.
        for layer in self.linear_layers():
            already = float((layer.weight == 0).float().mean())
            prune.l1_unstructured(layer, name="weight", amount=(sparsity - already) / (1.0 - already))

    def on_train_end(self) -> None:
        for layer in self.linear_layers():
            if prune.is_pruned(layer):
                prune.remove(layer, "weight")

    def on_train_epoch_end(self) -> None:
        recent = self.completed_returns[-10:]
        self.log("mean_return", float(np.mean(recent)) if recent else 0.0)

    def configure_optimizers(self):
        return torch.optim.Adam(self.q_network.parameters(), lr=self.hparams.lr)

    def train_dataloader(self) -> DataLoader:
        dataset = ReplayDataset(self.buffer, self.hparams.steps_per_epoch * self.hparams.batch_size)
        return DataLoader(dataset, batch_size=self.hparams.batch_size)


def evaluate_greedy(model: DQNLightning, episodes: int, seed: int) -> float:
    env = CorridorEnv(model.hparams.corridor_length, seed=seed)
    returns = []
    for _ in range(episodes):
        state, done, total = env.reset(), False, 0.0
        while not done:
            with torch.no_grad():
                action = int(model(torch.from_numpy(state).unsqueeze(0)).argmax(dim=1).item())
            state, reward, done = env.step(action)
            total += reward
        returns.append(total)
    return float(np.mean(returns))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sync-rate", type=int, default=20)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    model = DQNLightning(hidden_size=args.hidden_size, lr=args.lr, gamma=args.gamma,
                         batch_size=args.batch_size, sync_rate=args.sync_rate, seed=args.seed)
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)

    mean_return = evaluate_greedy(model, args.eval_episodes, seed=args.seed + 1)
    torch.save(model.q_network.state_dict(), "q_network.pt")
    with open("dqn_results.json", "w") as handle:
        json.dump({"greedy_mean_return": mean_return, "training_episodes": len(model.completed_returns)}, handle)
    zeros = sum(int((layer.weight == 0).sum()) for layer in model.linear_layers())
    total = sum(layer.weight.numel() for layer in model.linear_layers())
    print(f"q-network weight sparsity: {zeros / total:.2f}")
    print(f"final greedy mean return: {mean_return:.3f}")


if __name__ == "__main__":
    main()
