(ns sockets.bench.idle
  "Idle connections: heap and RSS per connection (NIO pairs, this library's pairs, pairs with a
  receive-chan and send-chan), and the async echo RTT with the idle connections registered on
  the loop against none."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [sockets.async :as sa]
            [sockets.bench.async :refer [async-echo rtt-against]]
            [sockets.bench.harness :refer [cfg close-all fmt fmt-r lib-listener loopback median pin-process! proc-lines ratio]]
            [sockets.core :as sc])
  (:import (java.nio.channels ServerSocketChannel SocketChannel)))

(set! *warn-on-reflection* true)

(defn- used-heap ^long []
  (dotimes [_ 4] (System/gc) (Thread/sleep 50))
  (let [r (Runtime/getRuntime)] (- (.totalMemory r) (.freeMemory r))))

(defn- rss ^long []
  (let [line (first (filter #(str/starts-with? % "VmRSS:") (proc-lines "/proc/self/status")))]
    (* 1024 (Long/parseLong (second (re-find #"(\d+)" line))))))

(defn- fd-limit ^long []
  (let [line (first (filter #(str/starts-with? % "Max open files") (proc-lines "/proc/self/limits")))]
    (Long/parseLong (nth (str/split (str/trim line) #"\s+") 3))))

(defn- open-fds ^long [] (count (.list (io/file "/proc/self/fd"))))

(defn- idle-count ^long []
  (min (long (cfg :idle)) (quot (- (fd-limit) (open-fds) 200) 2)))

(defn- measure-idle
  "Opens n connections with open-one (returns the things to close), measures heap and RSS per
  connection, then calls (during) with them open, then closes them. Returns
  {:heap bytes/conn :rss bytes/conn :during (during)}."
  [^long n open-one during]
  (close-all (flatten (vec (repeatedly (max 50 (quot n 4)) open-one)))) ; warm-up: classes, JIT, pools
  (let [h0 (used-heap) r0 (rss)
        held (vec (repeatedly n open-one))
        h1 (used-heap) r1 (rss)
        d (during)]
    (close-all (flatten held))
    {:heap (/ (double (- h1 h0)) n) :rss (/ (double (- r1 r0)) n) :during d}))

(defn rows
  "Idle connections: heap and RSS per connection for NIO SocketChannel pairs, this library's
  socket pairs, and pairs whose accepted end has a receive-chan and send-chan; then the async
  echo RTT with the idle async connections registered on the loop vs none."
  [ms]
  (let [n (idle-count)
        ss (doto (ServerSocketChannel/open) (.bind loopback 4096))
        nio (measure-idle n (fn [] (let [c (SocketChannel/open (.getLocalAddress ss))] [c (.accept ss)])) (constantly nil))
        _ (.close ss)
        l (lib-listener)
        addr (sc/socket-name l)
        open-lib (fn [] (let [c (sc/socket :af/inet :sock/stream)]
                          (sc/socket-connect c addr)
                          [c (sc/socket-accept l)]))
        lib (measure-idle n open-lib (constantly nil))
        rtt (fn [] (let [[addr stop] (async-echo)]
                     (try (vec (for [_ (range (cfg :rounds))] (rtt-against addr ms)))
                          (finally (stop)))))
        rtt0 (do (pin-process! "0") (try (rtt) (finally (pin-process! "0-1"))))
        async (measure-idle n (fn [] (let [[c s] (open-lib)
                                           rc (sa/receive-chan s)
                                           sch (sa/send-chan s)]
                                       [c s rc sch]))
                            (fn [] (pin-process! "0") (try (rtt) (finally (pin-process! "0-1")))))]
    (.closeQuietly l)
    {:n n :limit (fd-limit) :nio nio :lib lib :async (dissoc async :during)
     :rtt0 rtt0 :rtt-idle (:during async)}))

(defn lines [{:keys [n limit nio lib async rtt0 rtt-idle]}]
  (let [kib #(format "%.2f" (/ (double %) 1024))]
    [""
     (str "Idle connections: " n " (both ends in this JVM, so " (* 2 n) " fds; RLIMIT_NOFILE " limit
          "; the issue's 10,000 would need 20,000+ fds here). Per connection = client + accepted socket.")
     ""
     "| idle connections | heap KiB/conn | RSS KiB/conn (includes heap pages touched) |"
     "|---|---|---|"
     (str "| NIO SocketChannel pair | " (kib (:heap nio)) " | " (kib (:rss nio)) " |")
     (str "| sockets Socket pair | " (kib (:heap lib)) " | " (kib (:rss lib)) " |")
     (str "| sockets pair + receive-chan + send-chan on the accepted end | " (kib (:heap async)) " | " (kib (:rss async)) " |")
     ""
     (str "Async echo RTT (1 B, one CPU), median of rounds: 0 idle " (fmt (median rtt0)) " us "
          (pr-str (mapv fmt rtt0)) "; with " n " idle connections registered on the loop "
          (fmt (median rtt-idle)) " us " (pr-str (mapv fmt rtt-idle))
          "; ratio " (fmt-r (ratio true (median rtt-idle) (median rtt0))) " (1.0 = no cost).")]))
