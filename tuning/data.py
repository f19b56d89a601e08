"""The built-in data a search tunes on: long bAbI stories or lifelong users, as training and validation datasets."""


def babi_data(babi_task, length, train_examples, val_examples, max_words, batch_size, seed):
    """Built-in long bAbI: `(train, validation, vectorizer)`; the datasets yield `(inputs, answer)`."""
    from keras_rm.pipelines.babi import BabiVectorizer, generate_long_babi

    train = generate_long_babi(babi_task, train_examples, length, seed=seed)
    validation = generate_long_babi(babi_task, val_examples, length, seed=seed + 10_000)
    vectorizer = BabiVectorizer(max_words)
    vectorizer.adapt(train + validation)
    return (
        _dataset(vectorizer, train, length, batch_size, True, seed),
        _dataset(vectorizer, validation, length, batch_size, False, seed),
        vectorizer,
    )


def babi_stories(vectorizer, babi_task, length, num_examples, batch_size, seed):
    """More built-in stories of `length` sentences for `vectorizer` (e.g. the short ones of a curriculum), shuffled."""
    from keras_rm.pipelines.babi import generate_long_babi

    examples = generate_long_babi(babi_task, num_examples, length, seed=seed)
    return _dataset(vectorizer, examples, length, batch_size, True, seed)


def _dataset(vectorizer, examples, length, batch_size, shuffle, seed):
    data = vectorizer.dataset(examples, batch_size, length, shuffle=shuffle, seed=seed)
    return data.map(lambda x, y, depth: (x, y))  # no cache: it would freeze the first epoch's order


def ctr_data(length, train_users, val_users, batch_size, seed):
    """Built-in lifelong users: `(train, validation, behaviours)`; the datasets yield `(inputs, click)`."""
    from keras_rm.pipelines.behaviour import ctr_dataset, generate_lifelong_users, make_examples

    train = generate_lifelong_users(train_users, length, seed=seed)
    validation = generate_lifelong_users(val_users, length, seed=seed + 10_000)
    return (
        ctr_dataset(make_examples(train, length, seed=seed), batch_size, shuffle=True, seed=seed),
        ctr_dataset(make_examples(validation, length, seed=seed + 1), batch_size),
        train,
    )
