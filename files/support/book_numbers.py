"""The book's numbers, one place for each: what each script prints beside its own result
(`(book: 0.978)`), what reproduce.py compares with (its BOOK table reads them from here) and
so the README's results table. tests/test_book_numbers.py checks that each script's header
and the README say the same.

Keys: reproduce.py's example names; a second metric of an example is `name:metric`.
"""

BOOK = {
    "mnist": 0.978,  # 1st ed. 2.1, test accuracy
    "imdb": 0.885,  # 1st ed. 3.4, test accuracy
    "reuters": 0.78,  # 1st ed. 3.5, test accuracy
    "bostonhousing": 2.38,  # 1st ed. 3.6, K-fold mean validation MAE
    "bostonhousing:test_mae": 2.55,  # 1st ed. 3.6, the final model's test MAE
    "convnet-mnist": 0.991,  # 1st ed. 5.1, test accuracy
    "convnet-scratch": 0.72,  # 1st ed. 5.2, validation accuracy (~72%)
    "convnet-augment": 0.82,  # 1st ed. 5.2, validation accuracy (~82%; 84.4% last epoch)
    "convnet-features": 0.90,  # 1st ed. 5.3, validation accuracy (~90%)
    "convnet-features-augment": 0.96,  # 1st ed. 5.3, validation accuracy (~96%)
    "convnet-finetune": 0.968,  # 1st ed. 5.3, test accuracy (97% validation)
}
