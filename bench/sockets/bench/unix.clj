(ns sockets.bench.unix
  "Unix-socket rows: stream ping-pong and bulk against NIO's UnixDomainSocketAddress channels
  (JDK 16+), and a datagram rate against C (NIO has no unix datagram channel). Sockets live in
  a temp directory, one path per connection, each deleted when its pair is closed. The C
  programs use a socketpair (same kernel path once connected)."
  (:require [sockets.bench.harness :refer [c-cpu cfg close-all mode-key mode-label run-c udp-run]]
            [sockets.bench.stream :refer [lib-bulk lib-pingpong nio-bulk nio-pingpong]]
            [sockets.core :as sc])
  (:import (java.io Closeable)
           (java.net StandardProtocolFamily UnixDomainSocketAddress)
           (java.nio.channels ServerSocketChannel SocketChannel)
           (java.nio.file Files Path)
           (java.nio.file.attribute FileAttribute)))

(set! *warn-on-reflection* true)

(def ^:private ^Path dir
  "This run's directory for socket files (deleted at exit; each file is deleted on close)."
  (delay (doto (Files/createTempDirectory "sockets-bench" (make-array FileAttribute 0))
           (-> .toFile .deleteOnExit))))

(def ^:private counter (atom 0))

(defn- fresh-path
  "A new socket path in this run's directory, and a Closeable that deletes its file."
  []
  (let [^Path p (.resolve ^Path @dir (str "s" (swap! counter inc)))]
    [(str p) (reify Closeable (close [_] (Files/deleteIfExists p)))]))

(defn- nio-pair
  "A connected pair of blocking NIO unix stream channels: [client server listener deleter]."
  []
  (let [[path deleter] (fresh-path)
        addr (UnixDomainSocketAddress/of ^String path)
        ss (doto (ServerSocketChannel/open StandardProtocolFamily/UNIX) (.bind addr))
        c (doto (SocketChannel/open StandardProtocolFamily/UNIX) (.connect addr))]
    [c (.accept ss) ss deleter]))

(defn- lib-pair
  "A connected pair of this library's unix stream sockets: [client server listener deleter],
  both in blocking mode when blocking? (set-socket-blocking!), else the egg's non-blocking mode."
  [blocking?]
  (let [[path deleter] (fresh-path)
        addr (sc/unix-address path)
        l (doto (sc/socket :af/unix :sock/stream) (sc/socket-bind addr) (sc/socket-listen 16))
        c (doto (sc/socket :af/unix :sock/stream) (sc/socket-connect addr))
        s (sc/socket-accept l)]
    (when blocking? (sc/set-socket-blocking! c true) (sc/set-socket-blocking! s true))
    [c s l deleter]))

(defn- pingpong-row [blocking?]
  {:key (str "unix-pingpong-1" (mode-key blocking?))
   :scenario (str "unix stream ping-pong 1 B (median RTT), byte arrays vs NIO UnixDomainSocketAddress channels"
                  (mode-label blocking?) "; C on a socketpair")
   :unit "us" :lower? true
   :impls {:c (fn [pl ms] (some-> (run-c "pingpong" 1 ms (c-cpu (:server pl)) (c-cpu (:client pl)) "unix") (/ 1000.0)))
           :nio (fn [pl ms] (nio-pingpong nio-pair 1 pl ms))
           :lib (fn [pl ms] (lib-pingpong #(lib-pair blocking?) 1 false pl ms))}})

(def ^:private bulk-row
  {:key "unix-bulk-array"
   :scenario "unix stream bulk 64 KiB writes, byte arrays (socket-send/receive!) vs NIO UnixDomainSocketAddress channels (heap buffers); C on a socketpair"
   :unit "GB/s"
   :impls {:c (fn [pl _] (some-> (run-c "bulk" (cfg :bulk-bytes) (cfg :bulk-ms) (c-cpu (:server pl)) (c-cpu (:client pl)) "unix")
                                 (/ 1e9)))
           :nio (fn [pl ms] (nio-bulk nio-pair false pl ms))
           :lib (fn [pl ms] (lib-bulk #(lib-pair false) false pl ms))}})

(defn- lib-dgram
  "Unix datagrams received/s: two :sock/dgram sockets bound to paths and connected to each
  other, 64 B socket-send / socket-receive! with byte arrays, in the egg's mode or, when
  blocking?, in blocking mode (a full receive queue makes the sender wait: unix datagrams are
  not dropped)."
  [blocking? pl ms]
  (let [[rpath rdel] (fresh-path)
        [spath sdel] (fresh-path)
        mk (fn [path] (doto (sc/socket :af/unix :sock/dgram) (sc/socket-bind (sc/unix-address path))
                        (sc/set-socket-blocking! blocking?)))
        r (mk rpath) s (mk spath)]
    (try
      (sc/socket-connect r (sc/unix-address spath))
      (sc/socket-connect s (sc/unix-address rpath))
      (let [ob (byte-array 64) ib (byte-array 2048)]
        (/ (udp-run pl ms
                    (fn [] (sc/socket-send s ob 0 64))
                    (fn [] (sc/socket-send s ob 0 1))
                    (fn [] (sc/socket-receive! r ib 0 2048)))
           1000.0))
      (finally (close-all [r s rdel sdel])))))

(defn- dgram-row [blocking?]
  {:key (str "unix-dgram" (mode-key blocking?))
   :scenario (str "unix datagrams 64 B received/s (connected, socket-send/receive!, byte arrays)" (mode-label blocking?)
                  " vs C on a socketpair (NIO has no unix datagram channel)")
   :unit "k/s"
   :impls {:c (fn [pl ms] (some-> (run-c "udp" ms (c-cpu (:server pl)) (c-cpu (:client pl)) 1 "unix") (/ 1000.0)))
           :lib (fn [pl ms] (lib-dgram blocking? pl ms))}})

(defn rows
  "The unix-socket rows, in run order (keys start with \"unix-\")."
  []
  [(pingpong-row false) (pingpong-row true) bulk-row (dgram-row false) (dgram-row true)])
