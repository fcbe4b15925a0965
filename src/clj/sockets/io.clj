(ns sockets.io
  "Socket i/o ports: an InputStream and an OutputStream over a connected socket, with the
  `socket` egg's buffering rules, and clojure.java.io on sockets.

  Building blocks:
  - `io-ports`               [in out] over a socket, parameters given as a map
  - `socket-io-port->socket` the socket of a port (stream, reader or writer)
  - `socket-abandon-port`    closing the port will not shut down its side
  - `*port-config*`          where clojure.java.io gets the parameters from
  - `default-config`         the egg's defaults

  `sockets.core/socket-io-ports` is `io-ports` with the parameters taken from the egg's
  parameter vars (`*socket-receive-buffer-size*` ...).

  clojure.java.io: `io/input-stream`, `io/output-stream`, `io/reader` and `io/writer` work on a
  connected `sockets.Socket`. They hand out the two halves of one pair of ports per socket
  (created on first use with the parameters `(*port-config*)` returns, merged with any of the
  five parameter keys given in io's options), so closing the reader shuts down the read side,
  closing the writer flushes and shuts down the write side, and the socket is closed once both
  are closed. `io/reader` gives a `java.io.BufferedReader` (line-seq works); `io/writer` gives a
  writer with no buffer of its own: each write call reaches the output port at once, so what is
  sent when follows the port's rules (call .flush when `:send-buffer-size` is set).
  Options: `:encoding` (default \"UTF-8\")."
  (:require [clojure.java.io :as io]
            [sockets.constants :as c])
  (:import (java.nio.charset Charset)
           (sockets Socket SocketPorts SocketPorts$Config SocketPorts$Input SocketPorts$Output
                    SocketPorts$Port SocketPorts$PortReader SocketPorts$PortWriter)))

(set! *warn-on-reflection* true)

(def default-config
  "The egg's defaults for the port parameters (sizes in bytes, timeouts in ms, nil: none):
  `{:receive-buffer-size 4096 :send-buffer-size nil :send-size 16384
    :receive-timeout 60000 :send-timeout 60000}`."
  {:receive-buffer-size 4096
   :send-buffer-size nil
   :send-size 16384
   :receive-timeout 60000
   :send-timeout 60000})

(def ^:dynamic *port-config*
  "A function of no arguments returning the port parameters map (as `io-ports` takes) that
  clojure.java.io uses when it creates the ports of a socket. By default it returns
  `default-config`; `sockets.core` sets it (once, when it loads) to a function reading the egg's
  parameter vars at call time, so `binding` those vars around `io/reader` works. Bind it to
  change the parameters for io without sockets.core."
  (fn [] default-config))

(def ^:private config-keys (set (keys default-config)))

(defn- size
  "An int from parameter `k`'s value `v`: a positive integer (or nil when `nil-ok`, giving 0)."
  [k v nil-ok]
  (cond
    (and (nil? v) nil-ok) 0
    (c/int-in? v 1 Integer/MAX_VALUE) (int v)
    :else (throw (c/invalid :socket-io-ports
                            (str k " must be a positive int" (when nil-ok " or nil") ", not " (pr-str v))))))

(defn- timeout
  "A long from timeout parameter `k`'s value `v`: ms (non-negative), nil giving -1 (none)."
  [k v]
  (cond
    (nil? v) -1
    (c/int-in? v 0 Long/MAX_VALUE) (long v)
    :else (throw (c/invalid :socket-io-ports (str k " must be a non-negative number of ms or nil, not " (pr-str v))))))

(defn ->config
  "Returns the `sockets.SocketPorts$Config` for a parameters map (keys as in `default-config`;
  a missing key takes its default, nil means none/unbuffered/unlimited; :receive-buffer-size
  cannot be nil). Throws :invalid for an unknown key or a bad value."
  ^SocketPorts$Config [m]
  (when-not (or (nil? m) (map? m))
    (throw (c/invalid :socket-io-ports (str "port parameters must be a map, not " (pr-str m)))))
  (when-let [bad (seq (remove config-keys (keys m)))]
    (throw (c/invalid :socket-io-ports (str "unknown port parameters " (pr-str (vec bad))
                                            "; known: " (pr-str (sort config-keys))))))
  (let [m (merge default-config m)]
    (-> SocketPorts$Config/DEFAULTS
        (.withReceiveBufferSize (size :receive-buffer-size (:receive-buffer-size m) false))
        (.withSendBufferSize (size :send-buffer-size (:send-buffer-size m) true))
        (.withSendSize (size :send-size (:send-size m) true))
        (.withReceiveTimeout (timeout :receive-timeout (:receive-timeout m)))
        (.withSendTimeout (timeout :send-timeout (:send-timeout m))))))

(defn- check-socket ^Socket [op s]
  (if (instance? Socket s)
    s
    (throw (c/invalid op (str "expected a sockets.Socket, not " (pr-str (type s)))))))

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
  | :receive-timeout     | socket-receive-timeout        | ms per read that must receive; nil: none  |
  | :send-timeout        | socket-send-timeout           | ms per chunk sent; nil: none              |

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
   (let [s (check-socket :socket-io-ports s)
         p (SocketPorts/open s (->config params))]
     [(.input p) (.output p)])))

(defn- check-port ^SocketPorts$Port [op p]
  (if (instance? SocketPorts$Port p)
    p
    (throw (c/invalid op (str "expected a socket port (from socket-io-ports, or io/reader, "
                              "io/writer, io/input-stream, io/output-stream on a socket), not "
                              (pr-str (type p)))))))

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

(defn- shared-ports
  "The socket's shared pair, created with (*port-config*) and the parameter keys in `opts`."
  ^SocketPorts [s opts]
  (SocketPorts/shared s (->config (merge (*port-config*) (select-keys opts config-keys)))))

(defn- input->reader [^SocketPorts$Input in opts]
  (SocketPorts$PortReader. in (charset opts)))

(defn- output->writer [^SocketPorts$Output out opts]
  (SocketPorts$PortWriter. out (charset opts)))

(extend Socket
  io/IOFactory
  (assoc io/default-streams-impl
         :make-input-stream (fn [s opts] (.input (shared-ports s opts)))
         :make-output-stream (fn [s opts] (.output (shared-ports s opts)))
         :make-reader (fn [s opts] (input->reader (.input (shared-ports s opts)) opts))
         :make-writer (fn [s opts] (output->writer (.output (shared-ports s opts)) opts))))

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
