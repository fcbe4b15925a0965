(ns sockets.async
  "core.async channels over sockets, all served by one event-loop thread (`sockets.EventLoop`:
  epoll, level-triggered, on Linux; poll(2) elsewhere).

  Building blocks:
    accept-chan      listener -> channel of accepted sockets
    receive-chan     socket   -> channel of byte arrays (stream) or {:data :from} maps (datagram)
    send-chan        socket   -> channel you put byte arrays / ByteBuffers / strings into
    connect-chan     sockaddr -> promise-chan of a connected socket or an error
    connect-ai-chan  addrinfos -> promise-chan of a connected socket or an error
    error?           true for the error values these channels carry
    event-loop, loop-state, stop-loop!   the loop itself

  Errors. A failure (peer reset, timeout, the socket closed locally, the loop stopped) is put
  on the channel as the `sockets.SocketException` itself, with its usual ex-data
  {:op :errno :errno-code :address :kind} (`:kind` :closed, :timeout, :fatal, ...); then the
  channel closes. Nothing is only logged. `error?` tells an error value from data.

  Backpressure. The loop never blocks on a channel: it offers each item and, when the buffer
  is full, leaves one pending put! and stops reading that socket until the put completes, so
  the kernel's receive buffer fills and TCP closes the sender's window. A send channel is taken
  from one value at a time, the next only once the kernel has accepted all of the previous
  one, so a full kernel send buffer makes the producer's puts park. Memory per socket is bounded
  by the channel buffers (buf-or-n items of at most :max-chunk bytes) plus one item in flight.

  Threads. Handlers run on the loop thread; put!/take! callbacks run there or on core.async's
  dispatch pool. A value put on a send-chan while the loop thread is idle is written by the
  putting thread itself (one non-blocking send; the loop is not woken); a busy loop sends it
  in its next pass with the others, and the loop writes whatever the kernel could not take. Nothing here blocks a thread; channel transducers
  (if you pass a buffer with one through your own pipeline) must not block either.

  Speed. A received item reaches a go block through one core.async dispatch (the loop thread
  hands it to core.async's pool); that hand-off is the main cost per message. core.async 1.9's
  default dispatch executor is an unbounded cached pool, where every dispatch wakes a parked
  thread and bursts start new ones: measured at 15-24 us of CPU per item on a 2-vCPU VM, more
  than the socket I/O of an echo (about 10 us), against 0.5-2 us with a fixed pool. Servers
  with many busy connections should set the JVM property clojure.core.async.executor-factory
  to a function returning a fixed pool for :core-async-dispatch (as bench/sockets/bench.clj's
  `dispatch-executor` does), or use sockets.EventLoop's handlers directly (no hand-off).

  Ownership. The channels never close the socket unless asked with `:close? true`: then the
  socket is closed when that channel's flow ends for any reason (EOF, error, the channel closed
  by you, the loop stopped). Closing the socket yourself fails its channels with a :closed
  error within 50 ms (the loop's sweep), then the loop releases the fd, which the kernel gets
  back exactly once.

  Options (every function takes a trailing map, {} by default):
    :loop               a sockets.EventLoop (default: (event-loop), the shared loop)
    :buf-or-n           the channel's buffer (default 16; receive: items, send: values)
    :max-chunk          receive: largest byte array per item, 1-16777216 (default 65536);
                        a datagram longer than this is truncated
    :timeout-ms         receive/accept: fail with :timeout after this long without data while
                        the consumer keeps up (paused time does not count); send: a value makes
                        no progress for this long; connect: the whole attempt. nil (default): none
    :close?             close the socket when this channel's flow ends (default false)
    :shutdown-on-close? send-chan: after the channel is closed and everything is written,
                        shut down the write side (default false)
    :result-ch          send-chan: a channel that gets the total bytes written (a long) when
                        the send channel was closed and drained, or the SocketException that
                        ended it; then it is closed"
  (:require [clojure.core.async :as a]
            [clojure.core.async.impl.protocols :as impl]
            [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.impl.args :as args])
  (:import (java.nio ByteBuffer)
           (java.nio.charset StandardCharsets)
           (sockets EventLoop EventLoop$Options EventLoop$ReadHandler EventLoop$WriteHandler
                    EventLoop$ConnectHandler EventLoop$Flow EventLoop$Datagram Socket SocketException
                    SocketException$Kind)))

(set! *warn-on-reflection* true)

(defn event-loop
  "Returns the shared `sockets.EventLoop` (created if there is none or the last one was
  stopped; its thread starts with the first registration)."
  ^EventLoop []
  (EventLoop/shared))

(defn- a-loop
  "`x` as a `sockets.EventLoop`, or :invalid."
  ^EventLoop [op x]
  (if (instance? EventLoop x) x (throw (args/fail op "the loop" "a sockets.EventLoop" x))))

(defn loop-state
  "Returns the state of `loop` (default: the shared one) as a keyword: :new, :running,
  :stopping or :stopped."
  ([] (loop-state (event-loop)))
  ([loop] (.keyword (.state (a-loop :loop-state loop)))))

(defn stop-loop!
  "Stops `loop` (default: the shared one): every registered channel gets a :closed error and
  closes; sockets are closed only where their channel was opened with :close? true. Returns
  true when the loop thread ended within `timeout-ms` (default 5000); blocks up to that long."
  ([] (stop-loop! (event-loop) 5000))
  ([loop] (stop-loop! loop 5000))
  ([loop timeout-ms]
   (let [l (a-loop :stop-loop! loop)
         t (args/int-in :stop-loop! "the timeout" timeout-ms 0 Long/MAX_VALUE)]
     (.stop l)
     (.awaitStopped l t))))

(defn error?
  "Returns true when `x` is an error value from one of these channels (a `sockets.SocketException`)."
  [x]
  (instance? SocketException x))

;; ------------------------------------------------------------------ options

(defn- ^EventLoop the-loop [opts]
  (let [l (:loop opts)]
    (cond (nil? l) (event-loop)
          (instance? EventLoop l) l
          :else (throw (args/fail :event-loop ":loop" "a sockets.EventLoop" l)))))

(defn- ^EventLoop$Options flow-options [op opts]
  (let [{:keys [max-chunk timeout-ms close? shutdown-on-close?]} (args/options op opts args/renamed-keys)
        o (EventLoop$Options.)]
    (when (some? max-chunk)
      (.maxChunk o (int (args/int-in op ":max-chunk" max-chunk 1 EventLoop/MAX_CHUNK))))
    ;; beyond args/max-timeout-ms it gives -1 (none), as the loop's saturating deadline would
    (when (some? timeout-ms) (.timeoutMs o (args/timeout-ms op ":timeout-ms" timeout-ms)))
    (.closeSocket o (boolean close?))
    (.shutdownOutput o (boolean shutdown-on-close?))
    o))

(defn- make-chan [op opts]
  (let [b (get opts :buf-or-n 16)]
    (when-not (or (and (integer? b) (pos? b)) (satisfies? impl/Buffer b))
      (throw (args/fail op ":buf-or-n" "a positive integer or a buffer" b)))
    (a/chan b)))

(defn- check-socket [op s] (args/socket op s))

(defn- drain!
  "Takes whatever `ch` (closed) still holds, so that puts parked on it complete (a put
  parked on a full channel is not completed by close! alone). Calls `on-item` on each."
  ([ch] (drain! ch nil))
  ([ch on-item]
   (loop []
     (when-some [v (a/poll! ch)]
       (when on-item (on-item v))
       (recur)))))

(defn- end!
  "Ends a send channel's flow from the channel's side: closes `ch` and drains it, so every
  pending put completes (the producer's next put gives false)."
  [ch]
  (a/close! ch)
  (drain! ch))

(defn- fail!
  "Puts the error `e` on `ch` (waiting for room without blocking anyone), then closes it."
  [ch e]
  (a/put! ch e (fn [_] (a/close! ch))))

(defn- deliver!
  "Offers `v` to `ch`; true when taken at once (keep reading). Otherwise leaves one pending
  put that resumes the flow when it completes (or cancels it if the channel closed), and
  returns false (pause). `on-drop` gets `v` when the channel refused it."
  [ch v ^EventLoop$Flow flow on-drop]
  (if (a/offer! ch v)
    true
    (do (a/put! ch v (fn [ok]
                       (if ok
                         (.resume flow)
                         (do (when on-drop (on-drop v)) (.cancel flow)))))
        false)))

;; ------------------------------------------------------------------ reading

(def ^:private sock-dgram (c/->int :sock :sock/dgram))

(defn receive-chan
  "Returns a channel of the data arriving on socket `s`: byte arrays (1 to :max-chunk bytes,
  in order) for a stream socket, closed at EOF; {:data bytes :from sockaddr-map} maps for a
  datagram socket. Does not block. An error (reset, :timeout-ms passed, socket closed, loop
  stopped) is put on the channel as the SocketException, then it closes. Closing the channel
  yourself unregisters the socket within 50 ms. When the buffer is full the loop stops
  reading the socket until you take. Options: :buf-or-n :max-chunk :timeout-ms :close? :loop."
  ([s] (receive-chan s {}))
  ([^Socket s opts]
   (check-socket :receive-chan s)
   (let [o (flow-options :receive-chan opts)
         loop (the-loop opts)
         ch (make-chan :receive-chan opts)
         dgram? (= sock-dgram (.type s))
         handler (reify EventLoop$ReadHandler
                   (onItem [_ flow item]
                     (let [v (if dgram?
                               (let [^EventLoop$Datagram d item]
                                 {:data (.data d) :from (addr/sockaddr->map (.from d))})
                               item)]
                       (deliver! ch v flow nil)))
                   (onEnd [_ _] (a/close! ch))
                   (onError [_ _ e] (fail! ch e))
                   (wanted [_] (not (impl/closed? ch))))]
     (if dgram? (.receiveFrom loop s o handler) (.receive loop s o handler))
     ch)))

(defn- close-buffered-sockets [ch]
  (drain! ch (fn [s] (when (instance? Socket s) (.closeQuietly ^Socket s)))))

(defn accept-chan
  "Returns a channel of sockets accepted on `listener` (a listening stream socket); each is
  non-blocking and yours to close. Does not block. When the buffer is full the loop stops
  accepting (the kernel's backlog fills). An error is put on the channel as the
  SocketException, then it closes. Closing the channel yourself stops accepting within 50 ms
  and closes the sockets still in it. Options: :buf-or-n :timeout-ms :close? (the listener) :loop."
  ([listener] (accept-chan listener {}))
  ([^Socket listener opts]
   (check-socket :accept-chan listener)
   (let [o (flow-options :accept-chan opts)
         loop (the-loop opts)
         ch (make-chan :accept-chan opts)
         handler (reify EventLoop$ReadHandler
                   (onItem [_ flow s] (deliver! ch s flow (fn [^Socket s] (.closeQuietly s))))
                   (onEnd [_ _] (a/close! ch))
                   (onError [_ _ e] (fail! ch e))
                   (wanted [_]
                     (if (impl/closed? ch)
                       (do (close-buffered-sockets ch) false)
                       true)))]
     (.accept loop listener o handler)
     ch)))

;; ------------------------------------------------------------------ writing

(defn- ->buffer ^ByteBuffer [v]
  (cond
    (bytes? v) (ByteBuffer/wrap ^bytes v)
    (instance? ByteBuffer v) v
    (string? v) (ByteBuffer/wrap (.getBytes ^String v StandardCharsets/UTF_8))
    :else nil))

(defn- on-caller-handler
  "A take handler whose callback `f` core.async runs on the thread that completes the take
  (the putting or closing thread; core.async honours :on-caller? on the callback's metadata)
  instead of its dispatch pool."
  [f]
  (let [f (with-meta f {:on-caller? true})]
    (reify
      java.util.concurrent.locks.Lock
      (lock [_])
      (unlock [_])
      impl/Handler
      (active? [_] true)
      (blockable? [_] true)
      (lock-id [_] 0)
      (commit [_] f))))

(defn send-chan
  "Returns a channel whose values (byte arrays, ByteBuffers from position to limit, strings
  as UTF-8) are written to socket `s`, in order, each entirely before the next is taken;
  on a datagram socket each value is one datagram. Does not block. While the loop thread is
  idle, a value is sent by the thread that put it (one non-blocking send, no hand-off); a
  busy loop sends it in its next pass; what the kernel cannot take now is written by the loop
  when the socket is writable, and the next value is taken only after that, so a producer's
  put parks while the kernel's send buffer and the channel's buffer are full. Close the channel to end: with
  :shutdown-on-close? the write side is then shut down. On an error (reset, :timeout-ms,
  socket closed, loop stopped, a value of another type: :invalid) the channel is closed (puts
  return false) and the error goes to :result-ch. Options: :buf-or-n :timeout-ms
  :shutdown-on-close? :close? :result-ch :loop."
  ([s] (send-chan s {}))
  ([^Socket s opts]
   (check-socket :send-chan s)
   (let [o (flow-options :send-chan opts)
         loop (the-loop opts)
         ch (make-chan :send-chan opts)
         result (:result-ch opts)
         report! (fn [v] (when result (a/put! result v (fn [_] (a/close! result)))))
         flow-p (promise)
         ;; consume! writes one value; true: the kernel took all of it, take the next now
         consume! (fn [v]
                    (let [^EventLoop$Flow flow @flow-p]
                      (cond
                        (.isDone flow) false
                        (nil? v) (do (.finish flow) false)
                        :else
                        (if-let [b (->buffer v)]
                          (try (.tryWrite flow b)
                               (catch IllegalStateException _ false) ; the flow ended meanwhile
                               (catch Throwable t
                                 (.cancel flow)
                                 (end! ch)
                                 (report! (doto (SocketException. "send-chan" SocketException$Kind/FATAL 0 nil
                                                                  (str "cannot send a value: " t) nil)
                                            (.initCause t)))
                                 false))
                          (do (.cancel flow)
                              (end! ch)
                              (report! (c/invalid :send-chan (str "cannot send a value of type "
                                                                  (.getName (class v)))))
                              false)))))
         ;; pump! takes and writes values on the calling thread while they are there and the
         ;; kernel takes them; an empty channel leaves one take whose callback carries on, on
         ;; the thread that puts (or closes). Iterative: no stack growth however many values.
         handler-box (volatile! nil)
         pump! (fn []
                 (clojure.core/loop []
                   (when-let [b (impl/take! ch @handler-box)]
                     (when (consume! @b) (recur)))))
         _ (vreset! handler-box (on-caller-handler (fn [v] (when (consume! v) (pump!)))))
         handler (reify EventLoop$WriteHandler
                   (onWritten [_ _] (pump!))
                   (onEnd [_ flow] (end! ch) (report! (.bytesWritten flow)))
                   (onError [_ _ e] (end! ch) (report! e)))]
     (deliver flow-p (.send loop s o handler))
     (pump!)
     ch)))

;; ------------------------------------------------------------------ connecting

(defn- connect-handler [ch]
  (reify EventLoop$ConnectHandler
    (onConnected [_ s] (a/put! ch s (fn [ok] (when-not ok (.closeQuietly s)))))
    (onError [_ e] (a/put! ch e))))

(defn connect-chan
  "Returns a promise-chan that gets a new socket connected to `saddr` (a sockaddr map or
  SockAddr), or the SocketException (refused: :transient, :timeout-ms passed: :timeout);
  a failed attempt's socket is closed. Does not block. Options: :type (:sock/stream),
  :timeout-ms, :loop. If you close the promise-chan first, a socket that connects is closed."
  ([saddr] (connect-chan saddr {}))
  ([saddr opts]
   (let [sa (addr/->native saddr :connect-chan)
         type (c/->int :sock (get opts :type :sock/stream) :connect-chan)
         o (flow-options :connect-chan opts)
         ch (a/promise-chan)]
     (.connect (the-loop opts) sa (int type) o (connect-handler ch))
     ch)))

(defn connect-ai-chan
  "Returns a promise-chan that gets a socket connected to one of `addrinfos` (maps or
  AddrInfos, e.g. from `sockets.address/address-information`), or the SocketException when
  all fail (the last error, its message naming every address tried, ex-data :tried and
  :errors). Does not block. By default the addresses are tried in order, a transient error or
  timeout moving on to the next (the egg's socket-connect/ai). With :happy-eyeballs (true, or
  {:attempt-delay-ms n}, default 250) they are tried the RFC 8305 way on the loop: interleaved by
  family, each next attempt started :attempt-delay-ms after the previous one or at once when it fails,
  the first connection winning and every other attempt's socket closed. Options: :timeout-ms
  (per address), :happy-eyeballs, :loop."
  ([addrinfos] (connect-ai-chan addrinfos {}))
  ([addrinfos opts]
   (when-not (sequential? addrinfos)
     (throw (args/fail :connect-ai-chan "the addrinfos" "a sequence" addrinfos)))
   (let [ais (mapv addr/->addrinfo addrinfos)
         o (flow-options :connect-ai-chan opts)
         happy (:happy-eyeballs opts)
         delay-ms (cond (or (nil? happy) (false? happy)) nil
                        (true? happy) EventLoop/HAPPY_DELAY_MS
                        (and (map? happy) (nil? (:attempt-delay-ms happy))) EventLoop/HAPPY_DELAY_MS
                        (map? happy) (args/int-in :connect-ai-chan ":attempt-delay-ms" (:attempt-delay-ms happy) 10 60000)
                        :else (throw (args/fail :connect-ai-chan ":happy-eyeballs" "true or {:attempt-delay-ms n}" happy)))
         ch (a/promise-chan)]
     (if delay-ms
       (.connectHappy (the-loop opts) ais (long delay-ms) (.timeoutMs o) (connect-handler ch))
       (.connectAny (the-loop opts) ais o (connect-handler ch)))
     ch)))
