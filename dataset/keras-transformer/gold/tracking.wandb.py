"""Text classification with a small Transformer (Keras 3, torch backend) on synthetic token data.

Each "review" is a sequence of token ids; a few ids carry positive or negative sentiment and the
label says which kind dominates. Custom layers: token + position embedding and a transformer block.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import argparse
import json
from pathlib import Path

import keras
import numpy as np
import wandb
from keras import layers, ops

POSITIVE_TOKENS = range(10, 30)
NEGATIVE_TOKENS = range(30, 50)
FIRST_NEUTRAL_TOKEN = 50


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a transformer text classifier on synthetic reviews.")
    parser.add_argument("--vocab-size", type=int, default=200)
    parser.add_argument("--maxlen", type=int, default=40)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-test", type=int, default=400)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--ff-dim", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", type=Path, default=Path("outputs"))
    return parser.parse_args(argv)


def make_reviews(count, vocab_size, maxlen, rng):
    """Random neutral tokens with 3-8 sentiment tokens sprinkled in; label 1 if positives dominate."""
    tokens = rng.integers(FIRST_NEUTRAL_TOKEN, vocab_size, size=(count, maxlen))
    labels = np.zeros(count, dtype="int64")
    for row in range(count):
        num_sentiment = rng.integers(3, 9)
        positions = rng.choice(maxlen, size=num_sentiment, replace=False)
        is_positive = rng.random(num_sentiment) < rng.random()
        tokens[row, positions] = np.where(
            is_positive,
            rng.integers(POSITIVE_TOKENS.start, POSITIVE_TOKENS.stop, size=num_sentiment),
            rng.integers(NEGATIVE_TOKENS.start, NEGATIVE_TOKENS.stop, size=num_sentiment),
        )
        labels[row] = int(is_positive.sum() * 2 > num_sentiment)
    return tokens.astype("int32"), labels


@keras.saving.register_keras_serializable(package="text_transformer")
class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.maxlen = maxlen
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        positions = ops.arange(0, ops.shape(x)[-1], 1)
        return self.token_emb(x) + self.pos_emb(positions)

    def get_config(self):
        config = super().get_config()
        config.update({"maxlen": self.maxlen, "vocab_size": self.vocab_size, "embed_dim": self.embed_dim})
        return config


@keras.saving.register_keras_serializable(package="text_transformer")
class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.rate = rate
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=None):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"embed_dim": self.embed_dim, "num_heads": self.num_heads, "ff_dim": self.ff_dim, "rate": self.rate}
        )
        return config


def build_model(args):
    inputs = layers.Input(shape=(args.maxlen,), dtype="int32")
    x = TokenAndPositionEmbedding(args.maxlen, args.vocab_size, args.embed_dim)(inputs)
    x = TransformerBlock(args.embed_dim, args.num_heads, args.ff_dim, args.dropout)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(args.dropout)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(args.dropout)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load_data(args):
    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_reviews(args.num_train, args.vocab_size, args.maxlen, rng)
    x_test, y_test = make_reviews(args.num_test, args.vocab_size, args.maxlen, rng)
    return (x_train, y_train), (x_test, y_test)


class WandbEpochLogger(keras.callbacks.Callback):
    """Log Keras' epoch metrics to W&B (wandb.integration.keras requires TensorFlow)."""

    def on_epoch_end(self, epoch, logs=None):
        wandb.log({"epoch": epoch, **{name: float(value) for name, value in (logs or {}).items()}})


def train(args, model, x_train, y_train):
    return model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=0.1,
        verbose=2,
        callbacks=[WandbEpochLogger()],
    )


def save_results(args, model, history, test_accuracy):
    args.output_dir.mkdir(parents=True, exist_ok=True)
    model.save(args.output_dir / "text_transformer.keras")
    summary = {"history": history.history, "test_accuracy": test_accuracy}
    (args.output_dir / "metrics.json").write_text(json.dumps(summary, indent=2))


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_data(args)
    print(f"{len(x_train)} training sequences, {len(x_test)} test sequences")

    config = {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()}
    wandb.init(project="keras-transformer", config=config)
    model = build_model(args)
    history = train(args, model, x_train, y_train)
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    save_results(args, model, history, float(test_accuracy))
    wandb.log({"test_accuracy": float(test_accuracy)})
    wandb.finish()
    print(f"final test accuracy: {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
