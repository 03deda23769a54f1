package io.llavaserve.cli;

/**
 * How far one model's logits are from a reference's over many positions, the figures llama.cpp's
 * perplexity tool reports for a quantization: the RMS of the logits' error relative to the spread
 * of the reference's logits (per position), the largest error, how often the top-1 token is the
 * same, and the mean KL divergence of the two softmax distributions. Accumulated one position at a
 * time; not thread-safe.
 */
final class LogitAgreement {

  private int positions;
  private int sameTop;
  private double relativeRmsSum;
  private double worstRelativeRms;
  private double maxAbsError;
  private double klSum;

  /** Adds one position: the reference's logits and the model's, over the same vocabulary. */
  void add(float[] reference, float[] model) {
    if (reference.length != model.length || reference.length == 0) {
      throw new IllegalArgumentException(
          "logits of " + reference.length + " and " + model.length + " tokens");
    }
    double sq = 0;
    double mean = 0;
    for (int i = 0; i < reference.length; i++) {
      double d = (double) model[i] - reference[i];
      sq += d * d;
      maxAbsError = Math.max(maxAbsError, Math.abs(d));
      mean += reference[i];
    }
    mean /= reference.length;
    double var = 0;
    for (float v : reference) {
      var += (v - mean) * (v - mean);
    }
    double relative = Math.sqrt(sq / reference.length) / Math.sqrt(var / reference.length);
    relativeRmsSum += relative;
    worstRelativeRms = Math.max(worstRelativeRms, relative);
    sameTop += argmax(reference) == argmax(model) ? 1 : 0;
    klSum += klDivergence(reference, model);
    positions++;
  }

  int positions() {
    return positions;
  }

  /** Mean over positions of RMS(model - reference) / std(reference). */
  double meanRelativeRms() {
    return positions == 0 ? Double.NaN : relativeRmsSum / positions;
  }

  double worstRelativeRms() {
    return worstRelativeRms;
  }

  double maxAbsError() {
    return maxAbsError;
  }

  /** Share of positions whose most likely token is the reference's. */
  double topOneAgreement() {
    return positions == 0 ? Double.NaN : (double) sameTop / positions;
  }

  /** Mean KL(reference || model) of the softmax distributions, in nats. */
  double meanKl() {
    return positions == 0 ? Double.NaN : klSum / positions;
  }

  private static double klDivergence(float[] p, float[] q) {
    double lp = logSumExp(p);
    double lq = logSumExp(q);
    double kl = 0;
    for (int i = 0; i < p.length; i++) {
      double logP = p[i] - lp;
      kl += Math.exp(logP) * (logP - (q[i] - lq));
    }
    return Math.max(0, kl);
  }

  private static double logSumExp(float[] x) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : x) {
      max = Math.max(max, v);
    }
    double s = 0;
    for (float v : x) {
      s += Math.exp(v - max);
    }
    return max + Math.log(s);
  }

  private static int argmax(float[] x) {
    int best = 0;
    for (int i = 1; i < x.length; i++) {
      if (x[i] > x[best]) {
        best = i;
      }
    }
    return best;
  }
}
