(ns sockets.bench.netty
  "Netty's native epoll transport as a peer in the async rows: an echo server on one
  MultiThreadIoEventLoopGroup thread (EpollIoHandler), which both accepts and serves, as
  sockets' EventLoop and the NIO Selector echo do. Netty comes from the :bench profile
  (io.netty/netty-transport-native-epoll, classifier linux-x86_64) only."
  (:import (io.netty.bootstrap ServerBootstrap)
           (io.netty.channel ChannelHandlerContext ChannelInboundHandlerAdapter ChannelOption
                             EventLoopGroup MultiThreadIoEventLoopGroup)
           (io.netty.channel.epoll Epoll EpollIoHandler EpollServerSocketChannel)
           (java.net InetSocketAddress)
           (java.util.concurrent TimeUnit)))

(set! *warn-on-reflection* true)

(defn unavailable
  "Returns nil when Netty's native epoll transport loads here, else a note saying why not
  (the netty rows then show \"-\")."
  []
  (when-not (Epoll/isAvailable)
    (str "netty epoll unavailable: " (Epoll/unavailabilityCause))))

(defn- echo-handler
  "One shared inbound handler: each buffer read is written back as is (Netty releases it after
  the write), flushed once per read batch, as Netty's own EchoServerHandler example does."
  ^ChannelInboundHandlerAdapter []
  (proxy [ChannelInboundHandlerAdapter] []
    (isSharable [] true)
    (channelRead [^ChannelHandlerContext ctx msg] (.write ctx msg))
    (channelReadComplete [^ChannelHandlerContext ctx] (.flush ctx))
    (exceptionCaught [^ChannelHandlerContext ctx _] (.close ctx))))

(defn echo-server
  "Starts a Netty epoll echo server on 127.0.0.1 (TCP_NODELAY on every accepted connection),
  one event-loop thread for accepting and serving. Returns [address stop-fn]; stop-fn closes
  the listener and every connection and waits for the loop thread to end."
  []
  (let [^EventLoopGroup group (MultiThreadIoEventLoopGroup. 1 (EpollIoHandler/newFactory))
        b (doto (ServerBootstrap.)
            (.group group)
            (.channel EpollServerSocketChannel)
            (.option ChannelOption/SO_BACKLOG (int 4096))
            (.childOption ChannelOption/TCP_NODELAY true)
            (.childHandler (echo-handler)))
        ch (-> b (.bind (InetSocketAddress. "127.0.0.1" 0)) .sync .channel)]
    [(.localAddress ch)
     (fn []
       (-> ch .close .syncUninterruptibly)
       (-> group (.shutdownGracefully 0 1000 TimeUnit/MILLISECONDS) .syncUninterruptibly))]))
