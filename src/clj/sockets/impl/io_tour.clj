(ns ^:no-doc sockets.impl.io-tour
  "The tour's streams step (sockets.tour runs `line-protocol`): a line protocol over
  io/reader and io/writer, and the egg's output buffering seen by a datagram peer."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [sockets.core :as s]
            [sockets.io :as sio]))

(set! *warn-on-reflection* true)

(defn- show [label v] (println (format "  %-34s %s" label (pr-str v))))

(defn- datagram-sizes
  "Sizes of the datagrams waiting on `so`, until none is ready (at most 100)."
  [so]
  (loop [sizes []]
    (if (and (< (count sizes) 100) (s/socket-receive-ready? so))
      (recur (conj sizes (count (s/socket-receive so 65536))))
      sizes)))

(defn line-protocol
  "Prints the streams step of the tour. Returns nil."
  []
  (with-open [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 4)
    (let [server (future
                   (with-open [c (s/socket-accept l)
                               r (io/reader c)
                               w (io/writer c)]
                     (doseq [line (line-seq r)]
                       (.write w (str (str/upper-case line) "\n"))
                       (.flush w))))]
      (with-open [c (s/socket :af/inet :sock/stream)]
        (s/socket-connect c (s/socket-name l))
        (with-open [^java.io.BufferedReader r (io/reader c)
                    w (io/writer c)]
          (doseq [q ["hello" "line protocol"]]
            (.write w (str q "\n"))
            (.flush w)
            (show (str "wrote " (pr-str q) ", read") (.readLine r)))
          (.close w)
          (show "closed the writer; then read" (.readLine r)))
        (show "socket closed with both ports" (.isClosed c)))
      (deref server 5000 nil)))
  (println "  buffering: send-buffer-size 512, a datagram peer counting what arrives")
  (with-open [a (s/socket :af/inet :sock/dgram)
              b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind a (s/inet-address "127.0.0.1" 0))
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (s/socket-connect a (s/socket-name b))
    (let [[_ ^java.io.OutputStream out] (sio/io-ports a {:send-buffer-size 512 :send-size nil})]
      (.write out (byte-array 500))
      (show "write 500: datagrams sent" (datagram-sizes b))
      (.write out (byte-array 526))
      (show "write 526 more: datagrams sent" (datagram-sizes b))
      (.flush out)
      (show "flush: datagrams sent" (datagram-sizes b))))
  nil)
