"""Chapter 1: information measures (entropy, KL, mutual information, question trees,
Gaussian KL). numpy only."""

from engine.info.measures import (  # noqa: F401  (the chapter's public API)
    GAME1, GAME2, GAME_COLOURS, QuestionNode, entropy, cross_entropy, kl_divergence,
    surprise, binary_entropy, marginals, joint_entropy, conditional_entropy,
    mutual_information, pmi, huffman_lengths, huffman_tree, tree_lengths,
    expected_questions, gaussian_kl, gaussian_kl_mc, GaussianKLConfig, GaussianKLMonteCarlo,
)
