package io.llavaserve.web.cluster;

import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * This process as a member of the cluster: a clustered Vert.x whose cluster manager is Hazelcast,
 * configured in code from {@link ClusterConfig} (TCP join with the listed members, multicast only
 * when asked, no phone-home), with the event bus on the same host. The instance is named {@code
 * llava-serve-<host>-<port>}.
 */
public final class ClusterNode {

  /** The member attribute in which Vert.x's Hazelcast cluster manager keeps its node id. */
  private static final String NODE_ID_ATTRIBUTE = "__vertx.nodeId";

  private final Vertx vertx;
  private final HazelcastClusterManager manager;

  private ClusterNode(Vertx vertx, HazelcastClusterManager manager) {
    this.vertx = vertx;
    this.manager = manager;
  }

  /** Joins the cluster; blocks until this member is in (a first member forms the cluster). */
  public static ClusterNode join(ClusterConfig config, VertxOptions options) throws Exception {
    HazelcastClusterManager manager = new HazelcastClusterManager(hazelcast(config));
    options
        .setClusterManager(manager)
        .setEventBusOptions(
            new EventBusOptions()
                .setHost(config.host())
                .setClusterPublicHost(config.host())
                .setPort(0));
    Vertx vertx =
        Vertx.clusteredVertx(options)
            .toCompletionStage()
            .toCompletableFuture()
            .get(60, TimeUnit.SECONDS);
    return new ClusterNode(vertx, manager);
  }

  /** The Hazelcast member configuration of a node. */
  static Config hazelcast(ClusterConfig config) {
    Config hz = ConfigUtil.loadConfig(); // Vert.x's maps and semaphores, as it needs them
    hz.setInstanceName(instanceName(config.host(), config.port()));
    hz.setClusterName("llava-serve");
    hz.setProperty("hazelcast.phone.home.enabled", "false");
    hz.setProperty("hazelcast.logging.type", "jdk");
    hz.setProperty("hazelcast.shutdownhook.enabled", "false"); // the launcher leaves in order
    hz.setProperty("hazelcast.local.localAddress", config.host());
    hz.setProperty("hazelcast.wait.seconds.before.join", "0");
    hz.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    hz.setProperty("hazelcast.max.no.heartbeat.seconds", "5");
    hz.getJetConfig().setEnabled(false);
    NetworkConfig network = hz.getNetworkConfig();
    network.setPort(config.port()).setPortAutoIncrement(false);
    network.getRestApiConfig().setEnabled(false);
    JoinConfig join = network.getJoin();
    join.getAutoDetectionConfig().setEnabled(false);
    join.getMulticastConfig().setEnabled(config.multicast());
    join.getTcpIpConfig()
        .setEnabled(!config.multicast() || !config.members().isEmpty())
        .setMembers(config.members())
        .setConnectionTimeoutSeconds(2);
    return hz;
  }

  /** The Hazelcast instance name of the member at {@code host:port}. */
  public static String instanceName(String host, int port) {
    return "llava-serve-" + host + "-" + port;
  }

  public Vertx vertx() {
    return vertx;
  }

  /** This member's id, as the event bus and the membership events name it. */
  public String nodeId() {
    return manager.getNodeId();
  }

  /**
   * Calls {@code left} with the node id of each member that leaves (or is lost), on a Hazelcast
   * thread.
   */
  public void onMemberLeft(Consumer<String> left) {
    manager
        .getHazelcastInstance()
        .getCluster()
        .addMembershipListener(
            new MembershipListener() {
              @Override
              public void memberAdded(MembershipEvent event) {}

              @Override
              public void memberRemoved(MembershipEvent event) {
                // Vert.x names a member by its own node id, kept as a member attribute.
                String nodeId = event.getMember().getAttribute(NODE_ID_ATTRIBUTE);
                left.accept(nodeId != null ? nodeId : event.getMember().getUuid().toString());
              }
            });
  }
}
