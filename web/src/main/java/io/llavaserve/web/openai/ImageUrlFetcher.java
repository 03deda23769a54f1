package io.llavaserve.web.openai;

import io.vertx.core.Future;

/**
 * Fetches the bytes of an http(s) image URL named in a request. The implementation decides what is
 * allowed (hosts, addresses, sizes, time); a refusal fails the future with an {@link
 * io.llavaserve.web.errors.ApiError} naming the reason.
 */
public interface ImageUrlFetcher {

  Future<byte[]> fetch(String url);

  /**
   * Fetching through {@link io.llavaserve.web.media.MediaFetcher} (scheme, host allow-list,
   * addresses checked after resolution and on every redirect, byte and time caps), its refusals
   * turned into API errors with their status.
   */
  static ImageUrlFetcher of(io.llavaserve.web.media.MediaFetcher fetcher) {
    return url ->
        fetcher
            .fetch(url)
            .recover(
                e -> {
                  if (!(e instanceof io.llavaserve.web.media.MediaFetchException m)) {
                    return Future.failedFuture(e);
                  }
                  io.llavaserve.web.errors.ApiError error =
                      switch (m.status()) {
                        case 413 ->
                            io.llavaserve.web.errors.ApiError.tooLarge(m.param(), m.getMessage());
                        case 502, 504 ->
                            io.llavaserve.web.errors.ApiError.upstream(
                                m.status(), m.param(), m.getMessage());
                        default ->
                            io.llavaserve.web.errors.ApiError.badRequest(m.param(), m.getMessage());
                      };
                  return Future.failedFuture(error);
                });
  }

  /** The fetcher of a server with media fetching off: every URL is refused with a 400. */
  static ImageUrlFetcher disabled() {
    return url ->
        Future.failedFuture(
            io.llavaserve.web.errors.ApiError.badRequest(
                "image_url",
                "image_url: http(s) URLs are disabled on this server (media.fetch-enabled=false)"));
  }
}
