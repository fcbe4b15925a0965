;; Child JVM for sockets.fuzz-test/huge-sizes-are-refused-before-allocation (run with -Xmx128m):
;; every call that allocates from a caller's size is given a huge one and must be refused with
;; :invalid before allocating. Prints {label kind-or-error-class} as EDN (:no-error when a call
;; returned, an exception's class name when something else escaped, e.g. OutOfMemoryError).
(ns sockets.child.heap
  (:require [sockets.core :as s]
            [sockets.datagrams :as dg]
            [sockets.io :as sio]
            [sockets.messages :as msg]))

(set! *warn-on-reflection* true)

(defn- outcome [f]
  (try (f) :no-error
       (catch sockets.SocketException e (:kind (ex-data e)))
       (catch Throwable t (.getName (class t)))))

(defn -main [& _]
  (let [[a b] (s/socketpair :af/unix :sock/stream)
        u (doto (s/socket :af/inet :sock/dgram) (s/socket-bind (s/inet-address "127.0.0.1" 0)))
        huge [Integer/MAX_VALUE (* 1024 1024 1024) Long/MAX_VALUE 100000000000000000000N]
        r (into (sorted-map)
                (concat
                 (for [n huge] [(str "socket-receive-message " n) (outcome #(msg/socket-receive-message a n {:timeout-ms 0}))])
                 (for [n huge] [(str "socket-receive " n) (outcome #(binding [s/*socket-receive-timeout* 0] (s/socket-receive u n)))])
                 (for [n huge] [(str "socket-receive-from " n) (outcome #(binding [s/*socket-receive-timeout* 0] (s/socket-receive-from u n)))])
                 [["socket-receive-many 1024 x 64 MiB" (outcome #(dg/socket-receive-many u 1024 (* 64 1024 1024) {:timeout-ms 0}))]
                  ["core socket-receive-many 1024 x 64 MiB" (outcome #(s/socket-receive-many u 1024 (* 64 1024 1024) {:timeout-ms 0}))]
                  ["socket-receive-many 2 x 64 MiB" (outcome #(dg/socket-receive-many u 2 (* 64 1024 1024) {:timeout-ms 0}))]]
                 (for [k [:receive-buffer-size :send-buffer-size] n huge]
                   [(str "io-ports " k " " n) (outcome #(sio/io-ports a {k n}))])
                 (for [n huge]
                   [(str "*socket-receive-buffer-size* " n) (outcome #(binding [s/*socket-receive-buffer-size* n] (s/socket-io-ports a)))])
                 (for [n huge]
                   [(str "*socket-send-buffer-size* " n) (outcome #(binding [s/*socket-send-buffer-size* n] (s/socket-io-ports a)))])
                 (for [n huge]
                   [(str ":control-size " n) (outcome #(msg/socket-receive-message a 1 {:control-size n :timeout-ms 0}))])))]
    (run! s/socket-close* [a b u])
    (prn r)
    (System/exit 0)))

;; only as a child program (-Dsockets.child=true): `lein test` loads every namespace under test/
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
