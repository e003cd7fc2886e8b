"""Making a model: the trainer, data mixing and augmentation, corpora, dataset readers, recipes, evaluation,
checked exports. Reading a model (`ocr.recognizer`) needs none of this."""
