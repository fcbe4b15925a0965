(ns sockets.io
  "Socket i/o ports: an InputStream and an OutputStream over a connected socket, with the
  `socket` egg's buffering rules, and clojure.java.io on sockets.

  Building blocks:
  - `io-ports`               [in out] over a socket, parameters given as a map
  - `socket-io-port->socket` the socket of a port (stream, reader or writer)
  - `socket-abandon-port`    closing the port will not shut down its side
  - `socket-streams-impl`    clojure.java.io on a socket (sockets.core extends Socket with it)
  - `*port-config*`          overrides the parameters clojure.java.io uses
  - `default-config`         the egg's defaults

  `sockets.core/socket-io-ports` is `io-ports` with the parameters taken from the egg's
  parameter vars (`*socket-receive-buffer-size*` ...).

  clojure.java.io: with `sockets.core` loaded (it extends clojure.java.io's IOFactory to
  `sockets.Socket`, reading its parameter vars when the ports are made), `io/input-stream`,
  `io/output-stream`, `io/reader` and `io/writer` work on a connected `sockets.Socket`. They
  hand out the two halves of one pair of ports per socket (created on first use
  with the parameters, merged with any of the five parameter keys given in io's options), so
  closing the reader shuts down the read side, closing the writer flushes and shuts down the
  write side, and the socket is closed once both are closed. `io/reader` gives a
  `java.io.BufferedReader` (line-seq works); `io/writer` gives a writer with no buffer of its
  own: each write call reaches the output port at once, so what is sent when follows the
  port's rules (call .flush when `:send-buffer-size` is set). Options: `:encoding` (default
  \"UTF-8\")."
  (:require [clojure.java.io :as io]
            [sockets.constants :as c]
            [sockets.impl.args :as args])
  (:import (java.nio.charset Charset)
           (sockets Socket SocketPorts SocketPorts$Config SocketPorts$Input SocketPorts$Output
                    SocketPorts$Port SocketPorts$PortReader SocketPorts$PortWriter)))

(set! *warn-on-reflection* true)

(def default-config
  "The egg's defaults for the port parameters (sizes in bytes, timeouts in ms, nil: none):
  `{:receive-buffer-size 4096 :send-buffer-size nil :send-size 16384
    :receive-timeout-ms 60000 :send-timeout-ms 60000}`."
  {:receive-buffer-size 4096
   :send-buffer-size nil
   :send-size 16384
   :receive-timeout-ms 60000
   :send-timeout-ms 60000})

(def max-buffer-size
  "The largest :receive-buffer-size and :send-buffer-size a port takes (each is allocated
  when the port is made): 64 MiB, as `sockets.constants/max-receive-length`."
  c/max-receive-length)

(def ^:dynamic *port-config*
  "nil (the default), or a function of no arguments returning the port parameters map (as
  `io-ports` takes) that clojure.java.io uses when it creates the ports of a socket, in place
  of the egg's parameter vars that `sockets.core` reads. Bind it to set the parameters for
  clojure.java.io whatever the parameter vars say."
  nil)

(def config-keys
  "The keys of a port parameters map."
  (set (keys default-config)))

(def ^:private renamed
  {:receive-timeout :receive-timeout-ms :send-timeout :send-timeout-ms})

(defn- size
  "An int from parameter `k`'s value `v`: 1 to `cap` (or nil when `nil-ok`, giving 0)."
  [k v nil-ok cap]
  (if (and (nil? v) nil-ok)
    0
    (int (args/int-in :socket-io-ports k v 1 cap))))

(defn ->config
  "Returns the `sockets.SocketPorts$Config` for a parameters map (keys as in `default-config`;
  a missing key takes its default, nil means none/unbuffered/unlimited; :receive-buffer-size
  cannot be nil; the buffer sizes are at most `max-buffer-size`). Throws :invalid for an
  unknown key, an old key (:receive-timeout is now :receive-timeout-ms) or a bad value, before
  anything is allocated."
  ^SocketPorts$Config [m]
  (let [op :socket-io-ports
        m (args/options op m renamed)]
    (when-let [bad (seq (remove config-keys (keys m)))]
      (throw (args/refuse op (str "unknown port parameters " (args/show (vec bad))
                                  "; known: " (pr-str (sort config-keys))))))
    (let [m (merge default-config m)]
      (-> SocketPorts$Config/DEFAULTS
          (.withReceiveBufferSize (size ":receive-buffer-size" (:receive-buffer-size m) false max-buffer-size))
          (.withSendBufferSize (size ":send-buffer-size" (:send-buffer-size m) true max-buffer-size))
          (.withSendSize (size ":send-size" (:send-size m) true Integer/MAX_VALUE))
          (.withReceiveTimeout (args/timeout-ms op ":receive-timeout-ms" (:receive-timeout-ms m)))
          (.withSendTimeout (args/timeout-ms op ":send-timeout-ms" (:send-timeout-ms m)))))))

(defn io-ports
  "Returns [in out]: a new `sockets.SocketPorts$Input` (an InputStream) and
  `sockets.SocketPorts$Output` (an OutputStream) over the connected stream or datagram socket
  `s` (the egg's `socket-i/o-ports`; `sockets.core/socket-io-ports` calls this with the values
  of the parameter vars). Does not block. `params` (see `->config`):

  | key                  | egg parameter                 | meaning                                   |
  |----------------------|-------------------------------|-------------------------------------------|
  | :receive-buffer-size | socket-receive-buffer-size    | input buffer; one receive fills it        |
  | :send-buffer-size    | socket-send-buffer-size       | nil: unbuffered; N: send whole N-blocks   |
  | :send-size           | socket-send-size              | chunk per send(2) (datagram size); nil: no limit |
  | :receive-timeout-ms  | socket-receive-timeout        | ms per read that must receive; nil: none  |
  | :send-timeout-ms     | socket-send-timeout           | ms per chunk sent; nil: none              |

  Reads return what the buffer holds, else make one receive (a datagram socket's zero-length
  datagrams are skipped, not end of stream). Buffered output sends only whole multiples of the
  buffer size per write (500 buffered + 526 written, buffer 512: 1024 sent in one
  socket-send-all, 2 kept); `.flush` sends the rest. Closing `in` shuts down the read side
  (stream sockets only: a datagram socket's read side is left alone, see
  `sockets.SocketPorts$Input/close`) and wakes a reader blocked on it, closing `out` flushes and
  shuts down the write side (see `socket-abandon-port`); the socket is closed once both are
  closed. Timeouts throw `sockets.SocketException` with :kind :timeout; a closed port throws
  :kind :closed."
  ([s] (io-ports s {}))
  ([s params]
   (let [s (args/socket :socket-io-ports s)
         p (SocketPorts/open s (->config params))]
     [(.input p) (.output p)])))

(defn- check-port ^SocketPorts$Port [op p]
  (if (instance? SocketPorts$Port p)
    p
    (throw (args/fail op "the port" (str "a socket port (from socket-io-ports, or io/reader, "
                                         "io/writer, io/input-stream, io/output-stream on a socket)")
                      p))))

(defn socket-io-port->socket
  "Returns the socket (`sockets.Socket`) that `port` is over: an input or output port from
  `io-ports`/`socket-io-ports`, or a stream, reader or writer clojure.java.io made from a
  socket. Throws :invalid for anything else."
  ^Socket [port]
  (.socket (check-port :socket-io-port->socket port)))

(defn socket-abandon-port
  "Returns nil. Marks `port` (as for `socket-io-port->socket`; for a reader or writer, the port
  beneath it) abandoned: closing it will not shut down its side of the connection. The socket
  is still closed once both ports are closed."
  [port]
  (.abandon (check-port :socket-abandon-port port))
  nil)

;; ------------------------------------------------------------------ clojure.java.io

(defn- charset ^Charset [opts]
  (Charset/forName (or (:encoding opts) "UTF-8")))

(defn- input->reader [^SocketPorts$Input in opts]
  (SocketPorts$PortReader. in (charset opts)))

(defn- output->writer [^SocketPorts$Output out opts]
  (SocketPorts$PortWriter. out (charset opts)))

(defn- shared ^SocketPorts [^Socket s params opts]
  (SocketPorts/shared s (->config (merge (params) (select-keys opts config-keys)))))

(defn socket-streams-impl
  "Returns the clojure.java.io IOFactory implementation map for `sockets.Socket` (as
  `extend` takes): the streams, reader and writer are the halves of the socket's one shared
  pair of ports (`sockets.SocketPorts/shared`), created on first use with the parameters map
  `(params)` returns (a function of no arguments, called then; see `->config`) merged with
  the parameter keys given in io's options. `sockets.core` extends Socket with it, `params`
  reading `*port-config*` or else the egg's parameter vars."
  [params]
  (assoc io/default-streams-impl
         :make-input-stream (fn [s opts] (.input (shared s params opts)))
         :make-output-stream (fn [s opts] (.output (shared s params opts)))
         :make-reader (fn [s opts] (input->reader (.input (shared s params opts)) opts))
         :make-writer (fn [s opts] (output->writer (.output (shared s params opts)) opts))))

;; The ports themselves: io/input-stream gives the port (already buffered), io/reader a
;; PortReader over it (so socket-io-port->socket works on it), io/writer a PortWriter.
(extend SocketPorts$Input
  io/IOFactory
  (assoc io/default-streams-impl
         :make-input-stream (fn [in _] in)
         :make-reader input->reader))

(extend SocketPorts$Output
  io/IOFactory
  (assoc io/default-streams-impl
         :make-output-stream (fn [out _] out)
         :make-writer output->writer))

(extend SocketPorts$PortWriter
  io/IOFactory
  (assoc io/default-streams-impl
         :make-writer (fn [w _] w)))
