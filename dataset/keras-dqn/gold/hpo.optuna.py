"""DQN agent with a Keras Q-network (torch backend) learning the game "Catch".

A ball falls from the top row of a small grid; the agent moves a paddle on the bottom row left,
right or not at all, and gets +1 for catching the ball and -1 for missing it. The environment is
written by hand below; the Q-network is trained with `train_on_batch` on replayed transitions.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import random
from collections import deque

import keras
import numpy as np
import optuna
from keras import layers

CONFIG = {
    "grid_size": 5,
    "epochs": 2,
    "episodes_per_epoch": 60,
    "gamma": 0.9,
    "learning_rate": 2e-3,
    "hidden_units": 64,
    "batch_size": 32,
    "memory_size": 2000,
    "epsilon_start": 1.0,
    "epsilon_min": 0.05,
    "epsilon_decay": 0.97,
    "target_update_episodes": 5,
    "eval_episodes": 50,
    "seed": 17,
}


class CatchEnv:
    """The ball starts in a random column of the top row and falls one row per step."""

    ACTIONS = (-1, 0, 1)  # paddle moves left, stays, moves right

    def __init__(self, grid_size, rng):
        self.grid_size = grid_size
        self.rng = rng
        self.ball_row = 0
        self.ball_col = 0
        self.paddle_col = 0

    def reset(self):
        self.ball_row = 0
        self.ball_col = self.rng.randrange(self.grid_size)
        self.paddle_col = self.rng.randrange(self.grid_size)
        return self.observe()

    def observe(self):
        canvas = np.zeros((self.grid_size, self.grid_size), dtype="float32")
        canvas[self.ball_row, self.ball_col] = 1.0
        canvas[-1, self.paddle_col] = 1.0
        return canvas.reshape(-1)

    def step(self, action):
        move = self.ACTIONS[action]
        self.paddle_col = min(max(self.paddle_col + move, 0), self.grid_size - 1)
        self.ball_row += 1
        done = self.ball_row == self.grid_size - 1
        reward = 0.0
        if done:
            reward = 1.0 if self.ball_col == self.paddle_col else -1.0
        return self.observe(), reward, done


def build_q_network(input_size, num_actions, hidden_units, learning_rate):
    model = keras.Sequential(
        [
            keras.Input(shape=(input_size,)),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(num_actions),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="huber")
    return model


class DQNAgent:
    def __init__(self, config, input_size, num_actions):
        self.config = config
        self.num_actions = num_actions
        self.q_network = build_q_network(input_size, num_actions, config["hidden_units"], config["learning_rate"])
        self.target_network = build_q_network(input_size, num_actions, config["hidden_units"], config["learning_rate"])
        self.sync_target()
        self.memory = deque(maxlen=config["memory_size"])
        self.epsilon = config["epsilon_start"]

    def sync_target(self):
        self.target_network.set_weights(self.q_network.get_weights())

    def q_values(self, network, states):
        return keras.ops.convert_to_numpy(network(states, training=False))

    def act(self, state, greedy=False):
        if not greedy and random.random() < self.epsilon:
            return random.randrange(self.num_actions)
        return int(np.argmax(self.q_values(self.q_network, state[None, :])[0]))

    def remember(self, state, action, reward, next_state, done):
        self.memory.append((state, action, reward, next_state, done))

    def replay(self):
        """One gradient step on a random minibatch; returns the loss (or None while the memory is small)."""
        batch_size = self.config["batch_size"]
        if len(self.memory) < batch_size:
            return None
        batch = random.sample(self.memory, batch_size)
        states = np.stack([transition[0] for transition in batch])
        actions = np.array([transition[1] for transition in batch])
        rewards = np.array([transition[2] for transition in batch], dtype="float32")
        next_states = np.stack([transition[3] for transition in batch])
        dones = np.array([transition[4] for transition in batch], dtype="float32")

        targets = self.q_values(self.q_network, states)
        next_best = self.q_values(self.target_network, next_states).max(axis=1)
        targets[np.arange(batch_size), actions] = rewards + self.config["gamma"] * next_best * (1.0 - dones)
        return float(self.q_network.train_on_batch(states, targets))

    def decay_epsilon(self):
        self.epsilon = max(self.config["epsilon_min"], self.epsilon * self.config["epsilon_decay"])


def run_episode(env, agent, learn=True):
    state, done, total_reward, losses = env.reset(), False, 0.0, []
    while not done:
        action = agent.act(state, greedy=not learn)
        next_state, reward, done = env.step(action)
        total_reward += reward
        if learn:
            agent.remember(state, action, reward, next_state, done)
            loss = agent.replay()
            if loss is not None:
                losses.append(loss)
        state = next_state
    return total_reward, losses


def train(config, env, agent):
    epoch_stats = []
    episode = 0
    for epoch in range(config["epochs"]):
        rewards, losses = [], []
        for _ in range(config["episodes_per_epoch"]):
            reward, episode_losses = run_episode(env, agent)
            rewards.append(reward)
            losses.extend(episode_losses)
            agent.decay_epsilon()
            episode += 1
            if episode % config["target_update_episodes"] == 0:
                agent.sync_target()
        stats = {
            "epoch": epoch,
            "mean_reward": float(np.mean(rewards)),
            "mean_loss": float(np.mean(losses)) if losses else 0.0,
            "epsilon": agent.epsilon,
        }
        epoch_stats.append(stats)
        print(f"epoch {epoch}: mean reward {stats['mean_reward']:.3f}, loss {stats['mean_loss']:.4f}, "
              f"epsilon {stats['epsilon']:.3f}")
    return epoch_stats


def evaluate(env, agent, episodes):
    rewards = [run_episode(env, agent, learn=False)[0] for _ in range(episodes)]
    return float(np.mean([reward > 0 for reward in rewards]))


def train_and_evaluate(config):
    """Seed, train a fresh agent with this configuration and return it with its epoch stats and catch rate."""
    random.seed(config["seed"])
    np.random.seed(config["seed"])
    keras.utils.set_random_seed(config["seed"])

    env = CatchEnv(config["grid_size"], random.Random(config["seed"]))
    agent = DQNAgent(config, input_size=config["grid_size"] ** 2, num_actions=len(CatchEnv.ACTIONS))
    epoch_stats = train(config, env, agent)
    catch_rate = evaluate(env, agent, config["eval_episodes"])
    return agent, epoch_stats, catch_rate


def objective(trial):
    config = dict(CONFIG)
    config["learning_rate"] = trial.suggest_float("learning_rate", 5e-4, 5e-3, log=True)
    config["gamma"] = trial.suggest_float("gamma", 0.8, 0.99)
    config["hidden_units"] = trial.suggest_categorical("hidden_units", [32, 64, 128])
    config["batch_size"] = trial.suggest_categorical("batch_size", [16, 32, 64])
    _, _, catch_rate = train_and_evaluate(config)
    return catch_rate


def main():
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=3)
    print(f"best params: {study.best_params}")

    # Final training with the best hyperparameters produces the original outputs.
    config = {**CONFIG, **study.best_params}
    agent, epoch_stats, catch_rate = train_and_evaluate(config)
    agent.q_network.save("catch_q_network.keras")
    with open("training_log.json", "w") as handle:
        json.dump({"epochs": epoch_stats, "catch_rate": catch_rate}, handle, indent=2)
    print(f"final evaluation catch rate: {catch_rate:.3f}")


if __name__ == "__main__":
    main()
