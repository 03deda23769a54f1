package io.llavaserve.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.web.openai.RequestLimits;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.File;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The chat page in a real headless Chromium (Debian's {@code chromium} and {@code chromium-driver})
 * against a real server on the tiny model: upload an image, ask, watch the answer stream, stop it,
 * ask again in the same conversation.
 */
class ChatPageTest {

  static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

  /** Selenium warns that it has no DevTools bindings for this Chromium; WebDriver needs none. */
  static final Logger SELENIUM_LOG = Logger.getLogger("org.openqa.selenium");

  @TempDir static Path dir;
  static TestServer s;
  static ChromeDriver browser;

  @BeforeAll
  static void start() throws Exception {
    assumeTrue(
        Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
        "the chat page test needs Debian's chromium and chromium-driver"
            + " (apt-get install -y chromium chromium-driver); skipped");
    // A max_tokens cap high enough that a long answer outlasts the click on Stop.
    s = TestServer.on(dir).limits(new RequestLimits(2, 3000, 2048)).start();
    browser = openBrowser(dir.resolve("chromium-profile"));
  }

  @AfterAll
  static void stop() {
    if (browser != null) {
      browser.quit();
    }
    if (s != null) {
      s.close();
    }
  }

  /** The system's Chromium and driver, named outright so Selenium Manager never runs. */
  static ChromeDriver openBrowser(Path profile) throws Exception {
    SELENIUM_LOG.setLevel(Level.SEVERE);
    System.setProperty(ChromeDriverService.CHROME_DRIVER_EXE_PROPERTY, CHROMEDRIVER.toString());
    Files.createDirectories(profile);
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments(
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,1000",
        "--user-data-dir=" + profile);
    ChromeDriverService service =
        new ChromeDriverService.Builder()
            .usingDriverExecutable(CHROMEDRIVER.toFile())
            .usingAnyFreePort()
            .build();
    return new ChromeDriver(service, options);
  }

  @Test
  void askStreamStopAndAskAgain() throws Exception {
    HttpResponse<String> page = s.get("/");
    assertEquals(200, page.statusCode());
    assertTrue(page.headers().firstValue("Content-Security-Policy").isPresent());

    try {
      browser.get(s.url("/"));
      WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(20));
      wait.pollingEvery(Duration.ofMillis(20));
      wait.until(ExpectedConditions.textToBe(By.id("model"), TestServer.MODEL_ID));
      recordSentFrames();

      setField("max-tokens", "3000"); // long enough that Stop, not the length, ends it
      setField("seed", "7");
      browser.findElement(By.id("image-input")).sendKeys(png(dir.resolve("shapes.png")).toString());
      wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("preview")));

      WebElement question = browser.findElement(By.id("question"));
      question.sendKeys("What is in this picture?");
      question.sendKeys(Keys.SHIFT, Keys.ENTER); // a new line, not a send
      question.sendKeys("Answer at length.");
      assertTrue(sentFrames().isEmpty(), "Shift+Enter does not send");
      WebElement stop = browser.findElement(By.id("stop"));
      question.sendKeys(Keys.ENTER);

      assertGrows(0);
      stop.click();
      WebElement first = answer(wait, 0);
      wait.until(d -> !stats(0).isEmpty());
      assertTrue(
          stats(0).endsWith("stopped"),
          "Stop ended the answer: "
              + stats(0)
              + "; frames sent: "
              + sentFrames().stream().map(f -> f.getString("type")).toList());
      int stoppedAt = first.getText().length();
      awaitBlocksFreed();
      awaitSocketRoundTrip(); // every frame sent before the probe's answer has been handled
      assertEquals(stoppedAt, first.getText().length(), "the answer stops growing");
      int tokens = tokenCount(stats(0));
      assertTrue(tokens > 0 && tokens < 3000, "stopped before max_tokens: " + stats(0));
      assertTrue(stats(0).contains("TTFT"), stats(0));
      System.out.println("chat page: first answer " + stats(0));
      assertTrue(browser.findElement(By.id("send")).isEnabled());
      assertFalse(browser.findElement(By.id("stop")).isEnabled());

      setField("max-tokens", "12");
      question.sendKeys("And the colours?", Keys.ENTER);
      WebElement second = answer(wait, 1);
      wait.until(d -> stats(1).contains("finish:"));
      assertFalse(second.getText().isEmpty());
      assertTrue(
          stats(1).matches("\\d+ tokens? · TTFT \\d+ ms( · [0-9.]+ tokens/s)? · finish: \\w+"),
          stats(1));
      System.out.println("chat page: second answer " + stats(1));
      assertEquals(2, browser.findElements(By.cssSelector(".turn.assistant")).size());
      assertEquals(2, browser.findElements(By.cssSelector(".turn.user")).size());
      assertEquals(1, browser.findElements(By.cssSelector(".turn.user img")).size());
      assertTrue(browser.findElement(By.id("error")).getText().isEmpty());

      // The second request carried the first turn, its image still attached to it.
      List<JsonObject> sent = sentFrames();
      assertEquals(
          List.of("chat", "cancel", "chat"), sent.stream().map(f -> f.getString("type")).toList());
      JsonObject firstChat = sent.get(0);
      assertEquals(3000, firstChat.getInteger("max_tokens"));
      assertEquals(7, firstChat.getInteger("seed"));
      JsonArray messages = sent.get(2).getJsonArray("messages");
      assertEquals(3, messages.size());
      JsonArray firstContent = messages.getJsonObject(0).getJsonArray("content");
      assertEquals("image_url", firstContent.getJsonObject(0).getString("type"));
      assertTrue(
          firstContent
              .getJsonObject(0)
              .getJsonObject("image_url")
              .getString("url")
              .startsWith("data:image/png;base64,"));
      assertEquals(
          "What is in this picture?\nAnswer at length.",
          firstContent.getJsonObject(1).getString("text"));
      assertEquals("assistant", messages.getJsonObject(1).getString("role"));
      assertEquals(
          first.getDomProperty("textContent"), messages.getJsonObject(1).getString("content"));
      JsonArray lastContent = messages.getJsonObject(2).getJsonArray("content");
      assertEquals(1, lastContent.size(), "no image in the follow-up turn");
      awaitBlocksFreed();
    } finally {
      screenshot();
    }
  }

  @Test
  void aSampleImageAttachesItselfWithItsQuestionAndIsSent() throws Exception {
    try {
      browser.get(s.url("/"));
      WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(20));
      wait.pollingEvery(Duration.ofMillis(20));
      wait.until(ExpectedConditions.textToBe(By.id("model"), TestServer.MODEL_ID));
      recordSentFrames();
      setField("max-tokens", "4");
      List<WebElement> samples = browser.findElements(By.cssSelector("#samples button.sample"));
      assertEquals(4, samples.size());
      for (WebElement sample : samples) {
        assertEquals(
            200,
            s.get(sample.getDomAttribute("data-src")).statusCode(),
            "the sample image is served");
      }
      samples.get(0).click();
      wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("preview")));
      WebElement question = browser.findElement(By.id("question"));
      assertEquals(
          samples.get(0).getDomAttribute("data-question"), question.getDomProperty("value"));
      question.sendKeys(Keys.ENTER);
      wait.until(d -> stats(0).contains("finish:"));
      assertFalse(browser.findElement(By.id("samples")).isDisplayed(), "hidden once asked");
      JsonArray content =
          sentFrames().get(0).getJsonArray("messages").getJsonObject(0).getJsonArray("content");
      assertTrue(
          content
              .getJsonObject(0)
              .getJsonObject("image_url")
              .getString("url")
              .startsWith("data:image/png;base64,"));
      assertEquals("What color is the star?", content.getJsonObject(1).getString("text"));
      awaitBlocksFreed();
    } finally {
      screenshot();
    }
  }

  @Test
  void apiKeyFromTheSettingsAndErrorFramesShown(@TempDir Path keyed) throws Exception {
    try (TestServer k = TestServer.on(keyed).apiKeys("sk-page").start()) {
      assertEquals(200, k.get("/").statusCode(), "the page itself needs no key");
      browser.get(k.url("/"));
      WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(20));
      wait.pollingEvery(Duration.ofMillis(20));
      WebElement error = browser.findElement(By.id("error"));
      WebElement question = browser.findElement(By.id("question"));

      question.sendKeys("Hello", Keys.ENTER);
      wait.until(d -> error.isDisplayed());
      assertTrue(error.getText().contains("missing API key"), error.getText());
      assertTrue(error.getText().contains("Set the API key in Settings"), error.getText());
      assertEquals("Hello", question.getDomProperty("value"), "the question comes back to resend");

      setField("api-key", "sk-page");
      browser.navigate().refresh();
      assertEquals("sk-page", browser.findElement(By.id("api-key")).getDomProperty("value"));

      setField("max-tokens", "100000");
      browser.findElement(By.id("question")).sendKeys("Hello", Keys.ENTER);
      WebElement shown = browser.findElement(By.id("error"));
      wait.until(d -> shown.isDisplayed());
      assertTrue(shown.getText().contains("max_tokens"), "an error frame: " + shown.getText());
      assertEquals(1, browser.findElements(By.cssSelector(".turn.assistant.failed")).size());

      setField("max-tokens", "6");
      browser.findElement(By.id("question")).sendKeys(Keys.ENTER); // the question came back
      wait.until(d -> stats(1).contains("finish:"));
      assertFalse(shown.isDisplayed(), "a new question clears the old error");
      assertFalse(answer(wait, 1).getText().isEmpty());
    }
  }

  /** The text of the i-th assistant turn, once it has some. */
  static WebElement answer(WebDriverWait wait, int i) {
    By texts = By.cssSelector(".turn.assistant .answer-text");
    wait.until(
        d -> d.findElements(texts).size() > i && !d.findElements(texts).get(i).getText().isEmpty());
    return browser.findElements(texts).get(i);
  }

  static String stats(int i) {
    List<WebElement> stats = browser.findElements(By.cssSelector(".turn.assistant .stats"));
    return stats.size() > i ? stats.get(i).getText() : "";
  }

  /**
   * Four observations of the i-th answer while it streams, each longer than the one before. They
   * are taken in the page as the text changes, so that Stop can follow while the answer is young.
   */
  static void assertGrows(int i) {
    browser.manage().timeouts().scriptTimeout(Duration.ofSeconds(20));
    Object result =
        browser.executeAsyncScript(
            "const i = arguments[0], done = arguments[1];"
                + "const seen = [];"
                + "const observe = (el) => {"
                + "  seen.push(el.textContent.length);"
                + "  const observer = new MutationObserver(() => {"
                + "    const n = el.textContent.length;"
                + "    if (n > seen[seen.length - 1]) seen.push(n);"
                + "    if (seen.length === 4) {"
                + "      observer.disconnect();"
                + "      done({lengths: seen, streaming:"
                + "          el.closest('.turn').getAttribute('aria-busy') === 'true'});"
                + "    }"
                + "  });"
                + "  observer.observe(el, {childList: true, characterData: true, subtree: true});"
                + "};"
                + "const find = () => {"
                + "  const el = document.querySelectorAll('.turn.assistant .answer-text')[i];"
                + "  if (el) observe(el); else setTimeout(find, 5);"
                + "};"
                + "find();",
            i);
    Map<?, ?> seen = (Map<?, ?>) result;
    assertEquals(4, ((List<?>) seen.get("lengths")).size(), "the answer grows: " + seen);
    assertEquals(true, seen.get("streaming"), "still streaming after the observations: " + seen);
  }

  static int tokenCount(String stats) {
    Matcher m = Pattern.compile("^(\\d+) tokens?").matcher(stats);
    assertTrue(m.find(), stats);
    return Integer.parseInt(m.group(1));
  }

  static void setField(String id, String value) {
    WebElement field = browser.findElement(By.id(id));
    field.clear();
    field.sendKeys(value);
  }

  /** Keeps every frame the page sends on its WebSocket, to check what went to the server. */
  static void recordSentFrames() {
    ((JavascriptExecutor) browser)
        .executeScript(
            "window.sentFrames = [];"
                + "const send = WebSocket.prototype.send;"
                + "window.unrecordedSend = send;"
                + "WebSocket.prototype.send = function (data) {"
                + "  window.sentFrames.push(data); return send.call(this, data); };");
  }

  /**
   * A round trip on the page's socket, left out of {@link #sentFrames}: a cancel of an id that
   * never ran, which the server answers with an error frame the page ignores. Frames arrive in
   * order, so once that answer is in, the page has handled every frame the server sent before it.
   */
  static void awaitSocketRoundTrip() {
    browser.manage().timeouts().scriptTimeout(Duration.ofSeconds(20));
    Object answered =
        browser.executeAsyncScript(
            "const done = arguments[0], socket = chat.socket, probe = 'probe-' + Date.now();"
                + "const seen = (e) => {"
                + "  if (JSON.parse(e.data).id === probe) {"
                + "    socket.removeEventListener('message', seen); done(true);"
                + "  }"
                + "};"
                + "socket.addEventListener('message', seen);"
                + "window.unrecordedSend.call(socket, JSON.stringify({type: 'cancel', id: probe}));");
    assertEquals(true, answered, "the server answered the probe frame");
  }

  static List<JsonObject> sentFrames() {
    Object frames = ((JavascriptExecutor) browser).executeScript("return window.sentFrames;");
    List<JsonObject> out = new ArrayList<>();
    for (Object f : (List<?>) frames) {
      out.add(new JsonObject((String) f));
    }
    return out;
  }

  static void awaitBlocksFreed() throws InterruptedException {
    EngineStats idle = s.awaitIdle();
    assertEquals(0, idle.kvBlocksUsed(), "KV blocks free after the answer ends");
    assertEquals(0, s.server.state().inFlight());
  }

  static Path png(Path file) throws Exception {
    BufferedImage img = new BufferedImage(96, 64, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        img.setRGB(x, y, (x < 48 ? new Color(220, 60, 40) : new Color(40, 90, 200)).getRGB());
      }
    }
    ImageIO.write(img, "png", file.toFile());
    return file;
  }

  /** Saves the page as it looks now next to the test classes' build folder (chat-page.png). */
  static void screenshot() throws Exception {
    Path buildDir =
        Path.of(ChatPageTest.class.getProtectionDomain().getCodeSource().getLocation().toURI())
            .getParent();
    File shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE);
    Files.copy(
        shot.toPath(), buildDir.resolve("chat-page.png"), StandardCopyOption.REPLACE_EXISTING);
  }
}
