"""Word-level language modelling with an LSTM (or GRU / vanilla RNN / Transformer).

Adapted from the classic PyTorch word_language_model example, but self-contained: instead of
reading Wikitext-2 from disk, the corpus is produced by a small stochastic grammar over a
built-in vocabulary ("the old farmer carried a heavy basket to the market ."). The grammar has
enough structure (agreement between subjects and verbs, typical object/place pairs, recurring
characters) that a recurrent model learns a perplexity clearly below the uniform baseline.

Typical use:
    python train.py --epochs 3 --model LSTM --emsize 64 --nhid 64 --save model.pt
"""
import argparse
import json
import math
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

###############################################################################
# Built-in corpus
###############################################################################

CHARACTERS = ["alice", "bob", "the farmer", "the baker", "the teacher", "the old sailor", "my neighbour", "the child"]
ANIMALS = ["cat", "dog", "horse", "goat", "bird", "fox", "rabbit", "cow"]
OBJECTS = ["basket", "letter", "book", "lamp", "rope", "bucket", "map", "coin", "bread", "apple"]
PLACES = ["market", "river", "garden", "village", "forest", "harbour", "kitchen", "school", "mill", "bridge"]
ADJECTIVES = ["old", "small", "heavy", "bright", "quiet", "red", "wooden", "strange", "warm", "broken"]
ADVERBS = ["slowly", "quickly", "carefully", "happily", "quietly", "suddenly"]
TIMES = ["in the morning", "at noon", "in the evening", "at night", "on sunday", "after the rain"]
CARRY_VERBS = ["carried", "brought", "found", "lost", "painted", "sold", "bought", "hid"]
MOVE_VERBS = ["walked", "ran", "rode", "sailed", "hurried", "wandered"]
SEE_VERBS = ["saw", "watched", "followed", "fed", "called", "chased"]
# Objects that usually go with a place: makes "the bread ... to the market" more likely than noise.
TYPICAL_PLACE = {
    "bread": "market", "apple": "market", "coin": "market", "book": "school", "letter": "village",
    "rope": "harbour", "bucket": "river", "lamp": "kitchen", "map": "forest", "basket": "garden",
}


def noun_phrase(rng, noun):
    if rng.random() < 0.5:
        return f"the {rng.choice(ADJECTIVES)} {noun}"
    return f"the {noun}"


def sentence_carry(rng):
    obj = rng.choice(OBJECTS)
    place = TYPICAL_PLACE[obj] if rng.random() < 0.7 else rng.choice(PLACES)
    who = rng.choice(CHARACTERS)
    parts = [who, rng.choice(CARRY_VERBS), noun_phrase(rng, obj), "to the", place]
    if rng.random() < 0.3:
        parts.append(rng.choice(TIMES))
    return " ".join(parts)


def sentence_move(rng):
    parts = [rng.choice(CHARACTERS), rng.choice(MOVE_VERBS)]
    if rng.random() < 0.5:
        parts.append(rng.choice(ADVERBS))
    parts += [rng.choice(["to", "across", "along", "past"]), "the", rng.choice(PLACES)]
    return " ".join(parts)


def sentence_see(rng):
    animal = rng.choice(ANIMALS)
    parts = [rng.choice(CHARACTERS), rng.choice(SEE_VERBS), noun_phrase(rng, animal)]
    if rng.random() < 0.6:
        parts += ["near the", rng.choice(PLACES)]
    return " ".join(parts)


def sentence_story(rng):
    # Two clauses sharing a subject: "the baker found a coin and then walked to the mill"
    who = rng.choice(CHARACTERS)
    first = f"{who} {rng.choice(CARRY_VERBS)} a {rng.choice(OBJECTS)}"
    second = f"{rng.choice(MOVE_VERBS)} to the {rng.choice(PLACES)}"
    return f"{first} and then {second}"


def sentence_weather(rng):
    return f"{rng.choice(TIMES)} the {rng.choice(PLACES)} was {rng.choice(['quiet', 'busy', 'cold', 'warm', 'empty'])}"


SENTENCE_KINDS = [(sentence_carry, 0.35), (sentence_move, 0.25), (sentence_see, 0.2), (sentence_story, 0.12),
                  (sentence_weather, 0.08)]


def generate_text(n_sentences, seed):
    """Return n_sentences lines of grammar-generated text, one sentence per line ending with ' .'."""
    rng = random.Random(seed)
    kinds = [k for k, _ in SENTENCE_KINDS]
    weights = [w for _, w in SENTENCE_KINDS]
    lines = []
    for _ in range(n_sentences):
        make = rng.choices(kinds, weights=weights)[0]
        lines.append(make(rng) + " .")
    return "\n".join(lines)


###############################################################################
# Corpus / dictionary
###############################################################################


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    """Tokenises train/valid/test texts line by line, adding an <eos> token after every line."""

    def __init__(self, train_text, valid_text, test_text):
        self.dictionary = Dictionary()
        self.dictionary.add_word("<unk>")
        self.train = self.tokenize(train_text, grow=True)
        self.valid = self.tokenize(valid_text, grow=False)
        self.test = self.tokenize(test_text, grow=False)

    def tokenize(self, text, grow):
        ids = []
        for line in text.splitlines():
            words = line.split() + ["<eos>"]
            for word in words:
                if grow:
                    ids.append(self.dictionary.add_word(word))
                else:
                    ids.append(self.dictionary.word2idx.get(word, self.dictionary.word2idx["<unk>"]))
        return torch.tensor(ids, dtype=torch.long)


def build_corpus(n_train, n_valid, n_test, seed):
    return Corpus(
        generate_text(n_train, seed),
        generate_text(n_valid, seed + 1),
        generate_text(n_test, seed + 2),
    )


###############################################################################
# Models
###############################################################################


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout if nlayers > 1 else 0.0)
        else:
            try:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            except KeyError as e:
                raise ValueError(
                    "An invalid option for `--model` was supplied, options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']"
                ) from e
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout if nlayers > 1 else 0.0)
        self.decoder = nn.Linear(nhid, ntoken)

        # "Using the Output Embedding to Improve Language Models" (Press & Wolf 2016)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight

        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


class PositionalEncoding(nn.Module):
    """Sinusoidal position encoding added to the token embeddings (Vaswani et al., 2017)."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x):
        x = x + self.pe[: x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    """Container module with an encoder, a stack of causal transformer layers and a decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        layer = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    @staticmethod
    def _generate_square_subsequent_mask(sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = self._generate_square_subsequent_mask(len(src)).to(src.device)
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


###############################################################################
# Batching helpers
###############################################################################


def batchify(data, bsz):
    """Arrange the token stream into bsz columns, dropping what does not fit.

    Starting from sequential data, batchify arranges the dataset into columns. For instance,
    with the alphabet as the sequence and a batch size of 4, we'd get
    ┌ a g m s ┐
    │ b h n t │
    │ c i o u │
    │ d j p v │
    │ e k q w │
    └ f l r x ┘.
    These columns are treated as independent by the model, which means that the dependence of
    e.g. 'g' on 'f' can not be learned, but allows more efficient batch processing.
    """
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    """Slice a bptt-long chunk starting at row i; the target is the same chunk shifted by one token."""
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


###############################################################################
# Training and evaluation
###############################################################################


def evaluate(model, data_source, criterion, args, ntokens):
    """Average per-token negative log-likelihood on data_source (batchified with eval_batch_size)."""
    model.eval()
    total_loss = 0.0
    if args.model != "Transformer":
        hidden = model.init_hidden(args.eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, args.bptt):
            data, targets = get_batch(data_source, i, args.bptt)
            if args.model == "Transformer":
                output = model(data)
                output = output.view(-1, ntokens)
            else:
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train_one_epoch(model, train_data, criterion, optimizer, args, ntokens, epoch):
    """One pass over the training stream with truncated back-propagation through time."""
    model.train()
    total_loss = 0.0
    epoch_loss, epoch_tokens = 0.0, 0
    start_time = time.time()
    if args.model != "Transformer":
        hidden = model.init_hidden(args.batch_size)
    n_batches = (len(train_data) - 1) // args.bptt
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        data, targets = get_batch(train_data, i, args.bptt)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        # If we didn't, the model would try backpropagating all the way to start of the dataset.
        optimizer.zero_grad()
        if args.model == "Transformer":
            output = model(data)
            output = output.view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()

        total_loss += loss.item()
        epoch_loss += loss.item() * len(data)
        epoch_tokens += len(data)

        if batch % args.log_interval == 0 and batch > 0:
            cur_loss = total_loss / args.log_interval
            elapsed = time.time() - start_time
            print(
                "| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | "
                "loss {:5.2f} | ppl {:8.2f}".format(
                    epoch, batch, n_batches, optimizer.param_groups[0]["lr"],
                    elapsed * 1000 / args.log_interval, cur_loss, math.exp(cur_loss),
                )
            )
            total_loss = 0.0
            start_time = time.time()
        if args.dry_run:
            break
    return epoch_loss / max(epoch_tokens, 1)


def generate_words(model, corpus, args, n_words, temperature=1.0):
    """Sample n_words from the model, starting from a random token; returns the text."""
    model.eval()
    ntokens = len(corpus.dictionary)
    generator = torch.Generator().manual_seed(args.seed)
    input = torch.randint(ntokens, (1, 1), dtype=torch.long, generator=generator)
    if args.model != "Transformer":
        hidden = model.init_hidden(1)
    words = []
    with torch.no_grad():
        for _ in range(n_words):
            if args.model == "Transformer":
                output = model(input, False)
                word_weights = output[-1].squeeze().div(temperature).exp()
                word_idx = torch.multinomial(word_weights, 1, generator=generator)[0]
                word_tensor = torch.full((1, 1), int(word_idx), dtype=torch.long)
                input = torch.cat([input, word_tensor], 0)
            else:
                output, hidden = model(input, hidden)
                word_weights = output.squeeze().div(temperature).exp()
                word_idx = torch.multinomial(word_weights, 1, generator=generator)[0]
                input.fill_(int(word_idx))
            word = corpus.dictionary.idx2word[int(word_idx)]
            words.append("\n" if word == "<eos>" else word)
    return " ".join(words).replace(" \n ", "\n")


###############################################################################
# Command line and main loop
###############################################################################


def parse_args():
    parser = argparse.ArgumentParser(description="PyTorch word-level language model on a built-in corpus")
    parser.add_argument("--n-train-sentences", type=int, default=800, help="sentences in the training text")
    parser.add_argument("--n-valid-sentences", type=int, default=150)
    parser.add_argument("--n-test-sentences", type=int, default=150)
    parser.add_argument("--model", type=str, default="LSTM",
                        help="type of network (RNN_TANH, RNN_RELU, LSTM, GRU, Transformer)")
    parser.add_argument("--emsize", type=int, default=64, help="size of word embeddings")
    parser.add_argument("--nhid", type=int, default=64, help="number of hidden units per layer")
    parser.add_argument("--nlayers", type=int, default=2, help="number of layers")
    parser.add_argument("--lr", type=float, default=5.0, help="initial learning rate")
    parser.add_argument("--clip", type=float, default=0.25, help="gradient clipping")
    parser.add_argument("--epochs", type=int, default=3, help="upper epoch limit")
    parser.add_argument("--batch-size", type=int, default=20, metavar="N", help="batch size")
    parser.add_argument("--eval-batch-size", type=int, default=10, help="evaluation batch size")
    parser.add_argument("--bptt", type=int, default=35, help="sequence length")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout applied to layers (0 = no dropout)")
    parser.add_argument("--tied", action="store_true", help="tie the word embedding and softmax weights")
    parser.add_argument("--nhead", type=int, default=2, help="number of heads in the Transformer encoder")
    parser.add_argument("--seed", type=int, default=1111, help="random seed")
    parser.add_argument("--log-interval", type=int, default=5, metavar="N", help="report interval")
    parser.add_argument("--save", type=str, default="model.pt", help="path to save the final model")
    parser.add_argument("--samples", type=str, default="generated.txt", help="where to write sampled text")
    parser.add_argument("--n-generated-words", type=int, default=60)
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    parser.add_argument("--metrics", type=str, default="metrics.json", help="where to write the metrics")
    parser.add_argument("--dry-run", action="store_true", help="verify the code and the model")
    return parser.parse_args()


def build_model(args, ntokens):
    if args.model == "Transformer":
        return TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers, args.dropout)
    return RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied)


def save_checkpoint(model, args, epoch, val_loss, path):
    torch.save({"model_state": model.state_dict(), "args": vars(args), "epoch": epoch, "val_loss": val_loss}, path)


def load_checkpoint(model, path):
    checkpoint = torch.load(path, map_location="cpu")
    model.load_state_dict(checkpoint["model_state"])
    if isinstance(model, RNNModel):
        # After load the rnn params are not a continuous chunk of memory;
        # this makes them a continuous chunk, and will speed up forward pass.
        model.rnn.flatten_parameters()
    return checkpoint


def main():
    args = parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    ###########################################################################
    # Load data
    ###########################################################################
    corpus = build_corpus(args.n_train_sentences, args.n_valid_sentences, args.n_test_sentences, args.seed)
    ntokens = len(corpus.dictionary)
    print(f"vocabulary: {ntokens} words; tokens: train {len(corpus.train)}, valid {len(corpus.valid)}, "
          f"test {len(corpus.test)}")
    train_data = batchify(corpus.train, args.batch_size)
    val_data = batchify(corpus.valid, args.eval_batch_size)
    test_data = batchify(corpus.test, args.eval_batch_size)

    ###########################################################################
    # Build the model
    ###########################################################################
    model = build_model(args, ntokens)
    criterion = nn.NLLLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.model} model with {n_params} parameters (uniform perplexity would be {ntokens})")

    ###########################################################################
    # Training code
    ###########################################################################
    best_val_loss = None
    history = []
    # At any point you can hit Ctrl + C to break out of training early.
    try:
        for epoch in range(1, args.epochs + 1):
            epoch_start_time = time.time()
            train_loss = train_one_epoch(model, train_data, criterion, optimizer, args, ntokens, epoch)
            val_loss = evaluate(model, val_data, criterion, args, ntokens)
            print("-" * 89)
            print(
                "| end of epoch {:3d} | time: {:5.2f}s | valid loss {:5.2f} | valid ppl {:8.2f}".format(
                    epoch, (time.time() - epoch_start_time), val_loss, math.exp(val_loss)
                )
            )
            print("-" * 89)
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "val_ppl": math.exp(val_loss), "lr": optimizer.param_groups[0]["lr"]})
            # Save the model if the validation loss is the best we've seen so far.
            if not best_val_loss or val_loss < best_val_loss:
                save_checkpoint(model, args, epoch, val_loss, args.save)
                best_val_loss = val_loss
            else:
                # Anneal the learning rate if no improvement has been seen in the validation dataset.
                for group in optimizer.param_groups:
                    group["lr"] /= 4.0
    except KeyboardInterrupt:
        print("-" * 89)
        print("Exiting from training early")

    # Load the best saved model.
    checkpoint = load_checkpoint(model, args.save)
    print(f"loaded best model from epoch {checkpoint['epoch']}")

    # Run on test data.
    test_loss = evaluate(model, test_data, criterion, args, ntokens)
    test_ppl = math.exp(test_loss)
    print("=" * 89)
    print("| End of training | test loss {:5.2f} | test ppl {:8.2f}".format(test_loss, test_ppl))
    print("=" * 89)

    text = generate_words(model, corpus, args, args.n_generated_words, args.temperature)
    with open(args.samples, "w") as f:
        f.write(text + "\n")
    with open(args.metrics, "w") as f:
        json.dump({"history": history, "best_val_loss": best_val_loss, "test_loss": test_loss,
                   "test_ppl": test_ppl, "vocab_size": ntokens}, f, indent=2)
    print(f"final test perplexity: {test_ppl:.2f}")


if __name__ == "__main__":
    main()
