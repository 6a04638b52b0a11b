from core.data.dedup import jaccard, near_duplicates, shingles


def test_shingle_size_follows_the_script():
    assert shingles("你好世界啊") == {"你好世", "好世界", "世界啊"}
    assert shingles("Hello  World") == {"hello", "ello ", "llo w", "lo wo", "o wor", " worl", "world"}
    assert shingles("hi") == {"hi"}


def test_the_first_of_a_group_is_kept_and_nothing_below_the_threshold_is_dropped():
    base = "人工智能正在改变我们的工作方式和生活方式，也带来了新的挑战"
    texts = [base, base[:-1] + "。", "机器学习需要大量高质量的数据进行训练和评估才能可靠", base + "！"]
    dropped = near_duplicates(texts, threshold=0.8)
    assert dropped == {1, 3}
    for i in dropped:
        assert jaccard(shingles(texts[i]), shingles(texts[0])) >= 0.8


def brute_force(texts: list[str], threshold: float) -> set[int]:
    kept: list[set[str]] = []
    dropped = set()
    for i, text in enumerate(texts):
        grams = shingles(text)
        if any(jaccard(grams, other) >= threshold for other in kept):
            dropped.add(i)
        else:
            kept.append(grams)
    return dropped


def test_matches_exhaustive_comparison_and_is_deterministic():
    texts = [f"ticket {i}: my card number ending {i * 7919 % 10000:04d} was declined at the shop" for i in range(200)]
    texts += ["completely unrelated text about weather and rivers"]  # pairs above score about 0.63
    assert near_duplicates(texts, threshold=0.8) == set()
    dropped = near_duplicates(texts, threshold=0.6)
    assert dropped == brute_force(texts, 0.6) == near_duplicates(texts, threshold=0.6)
    assert 0 not in dropped and 200 not in dropped and len(dropped) > 150
