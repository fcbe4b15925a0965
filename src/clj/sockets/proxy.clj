(ns sockets.proxy
  "A fault-injecting TCP proxy on loopback for property-testing network code (re-exported by
  `sockets.gen` as `fault-proxy` and `with-fault-proxy`).

  A schedule is plain data:
    {:chunks [3 1 700]           ; each forwarded write has the next size (cycling)
     :delays-ms [0 5 0]          ; a pause before each write (cycling; none when empty)
     :fill-wait-ms 20            ; how long to wait for bytes to fill a chunk before sending less
     :fault {:at-byte 1200       ; once this many bytes have gone that way ...
             :kind :reset        ; :reset (RST via SO_LINGER 0), :close, :half-close, :stall
             :direction :down}}  ; :down is target -> client, :up is client -> target
  and shaping, each optional:
     :latency-ms 100             ; no byte is forwarded sooner than 100 ms after the proxy read it
     :bytes-per-sec 50000        ; a bandwidth cap: writes are paced (in pieces of 1/100 s of it)
     :read-bytes-per-sec 2000    ; a slow reader: the proxy reads at most this fast, so the
                                 ; sender's kernel buffers fill and its sends stall
  Both directions are re-chunked; `:schedule` may also be {:up schedule :down schedule}, so
  each direction has its own shaping. Chunks stay what the log shows ([dir :write n]); a cap
  only paces the pieces of each write.
  Each proxied connection runs two forwarding threads; everything is closed by `close`."
  (:require [sockets.constants :as c]
            [sockets.core :as s])
  (:import (java.io Closeable)
           (java.nio ByteBuffer ByteOrder)
           (jnr.constants.platform IPProto SocketLevel SocketOption TCP)))

(set! *warn-on-reflection* true)

(defn- linger-zero!
  "SO_LINGER {on, 0 s}: the next close sends RST instead of FIN."
  [so]
  (let [bb (doto (ByteBuffer/allocate 8) (.order (ByteOrder/nativeOrder)) (.putInt 1) (.putInt 0))]
    (.setOption ^sockets.Socket so (.intValue SocketLevel/SOL_SOCKET) (.intValue SocketOption/SO_LINGER) (.array bb))))

(defn- direction-schedule [schedule dir]
  (if (or (contains? schedule :up) (contains? schedule :down))
    (get schedule dir {})
    (let [f (:fault schedule)]
      (cond-> (dissoc schedule :fault :up :down)
        (and f (= dir (or (:direction f) :down))) (assoc :fault f)))))

(def ^:private fill-wait-ms
  ;; How long the proxy waits for more bytes to fill a scheduled chunk before it forwards
  ;; what it has: request/response protocols never deadlock on a chunk that cannot fill.
  20)

(defn- sleep-until!
  "Sleeps until System/nanoTime reaches `t`, in slices of at most 20 ms, returning early once
  `stopped` is set."
  [^long t stopped]
  (loop []
    (let [left (- t (System/nanoTime))]
      (when (and (pos? left) (not @stopped))
        (Thread/sleep (long (min 20 (max 1 (quot left 1000000)))))
        (recur)))))

(defn- pace!
  "For `k` bytes at `rate` bytes/s: moves the pacer's clock (a one-slot long array, nanoTime)
  to max(now, clock) + k/rate and sleeps until then. Called before a write it caps the rate of
  writing, after a read the rate of reading."
  [^longs clock k rate stopped]
  (let [t (+ (max (System/nanoTime) (aget clock 0)) (long (/ (* 1e9 (double k)) (double rate))))]
    (aset clock 0 t)
    (sleep-until! t stopped)))

(defn- slice
  "The piece size for a paced rate: 1/100 s of it, at least 1 byte."
  ^long [rate]
  (max 1 (quot (long rate) 100)))

(defn- forward
  "Copies from `from` to `to` per `sched` until EOF, an error, a fault or a stop; logs each
  write as [dir :write n], and [dir kind] for a fault, [dir :eof], [dir :error kind]."
  [dir from to sched log stopped client]
  (let [chunks (vec (or (seq (:chunks sched)) [65536]))
        delays (vec (:delays-ms sched))
        {:keys [at-byte kind]} (:fault sched)
        {:keys [latency-ms bytes-per-sec read-bytes-per-sec]} sched
        write-clock (long-array 1 Long/MIN_VALUE)  ; nanoTime may be negative
        read-clock (long-array 1 Long/MIN_VALUE)
        last-read (long-array 1 Long/MIN_VALUE)    ; nanoTime of the latest read
        ;; pending bytes: [position, limit) of this buffer (read mode)
        ^ByteBuffer pending (.flip (ByteBuffer/allocate (+ 65536 (long (reduce max 65536 chunks)))))
        write! (fn [i n]
                 (when (seq delays)
                   (let [d (nth delays (mod i (count delays)))]
                     (when (pos? d) (Thread/sleep (long d)))))
                 (when latency-ms
                   ;; every byte of this write was read at or before the latest read
                   (sleep-until! (+ (aget last-read 0) (* 1000000 (long latency-ms))) stopped))
                 (let [p (.position pending)
                       end (+ p (long n))]
                   (if bytes-per-sec
                     (loop [at p]
                       (when (< at end)
                         (let [k (min (slice bytes-per-sec) (- end at))]
                           (pace! write-clock k bytes-per-sec stopped)
                           (s/socket-send-all to (.array pending) at (+ at k))
                           (recur (+ at k)))))
                     (s/socket-send-all to (.array pending) p end))
                   (.position pending (int end)))
                 (swap! log conj [dir :write n]))
        fault! (fn []
                 (swap! log conj [dir kind])
                 (case kind
                   :reset (do (linger-zero! client) (s/socket-close* client) (s/socket-close* (if (identical? client from) to from)))
                   :close (do (s/socket-close* from) (s/socket-close* to))
                   :half-close (s/socket-shutdown to :shut/wr)
                   :stall (while (not @stopped) (Thread/sleep 5))))]
    (binding [s/*socket-send-timeout* nil]
      (try
        (loop [sent 0 i 0]
          (let [want (long (nth chunks (mod i (count chunks))))
                want (if kind (min want (- (long at-byte) sent)) want)
                have (.remaining pending)]
            (cond
              @stopped nil
              (and kind (>= sent (long at-byte))) (fault!)
              (>= have want) (do (write! i want) (recur (+ sent want) (inc i)))
              :else
              (let [_ (.compact pending)
                    end (if read-bytes-per-sec
                          (min (.limit pending) (+ (.position pending) (slice read-bytes-per-sec)))
                          (.limit pending))
                    n (binding [s/*socket-receive-timeout* (if (zero? have) nil (:fill-wait-ms sched fill-wait-ms))]
                        (try (s/socket-receive! from (.array pending) (.position pending) end)
                             (catch java.io.IOException e
                               (if (= :timeout (:kind (ex-data e))) -1 (throw e)))))]
                (when (pos? n)
                  (aset last-read 0 (System/nanoTime))
                  (when read-bytes-per-sec (pace! read-clock n read-bytes-per-sec stopped)))
                (.position pending (+ (.position pending) (max 0 (long n))))
                (.flip pending)
                (cond
                  (neg? n) (do (write! i have) (recur (+ sent have) (inc i))) ; the chunk could not fill in time
                  (zero? n) (do (when (pos? have) (write! i have))
                                (swap! log conj [dir :eof])
                                (s/socket-shutdown to :shut/wr))
                  :else (recur sent i))))))
        (catch java.io.IOException e
          (swap! log conj [dir :error (:kind (ex-data e))]))))))

(def ^:private shaping-bounds
  ;; shaping key -> its least value
  {:latency-ms 0, :bytes-per-sec 1, :read-bytes-per-sec 1})

(defn- shaping-problem
  "nil when every direction's shaping values in `schedule` are in range, else a string."
  [schedule]
  (some (fn [dir]
          (let [sched (direction-schedule schedule dir)]
            (some (fn [[k least]]
                    (let [v (get sched k)]
                      (when-not (or (nil? v) (c/int-in? v least Integer/MAX_VALUE))
                        (str dir " " k " must be an integer >= " least ", not " (pr-str v)))))
                  shaping-bounds)))
        [:up :down]))

(defrecord FaultProxy [address log stop]
  Closeable
  (close [_] (stop)))
;; made only by the function below: the constructors defrecord generates are not API
(alter-meta! #'->FaultProxy assoc :private true)
(alter-meta! #'map->FaultProxy assoc :private true)

(defn fault-proxy
  "Starts a proxy on 127.0.0.1 (a free port) forwarding to `:target` (a sockaddr) per
  `:schedule` (see the namespace docstring: chunks, delays, a fault, shaping; a shaping value
  out of range raises a SocketException of :kind :invalid and starts nothing). Returns a
  FaultProxy (Closeable) at once, with :address (connect clients here), :log (an atom of
  forwarding events, e.g. [:down :write 3]) and :stop (a fn). Accepts any number of
  connections, each on two threads of its own, until closed; `close` closes the listener and
  every connection and waits (up to 5 s each) for those threads to leave."
  [{:keys [target schedule]}]
  (when-let [p (shaping-problem schedule)] (throw (c/invalid :fault-proxy p)))
  (let [l (s/socket :af/inet :sock/stream)
        stopped (atom false)
        open (atom #{})
        forwarders (atom [])
        log (atom [])]
    (try
      (s/socket-bind l (s/inet-address "127.0.0.1" 0))
      (s/socket-listen l 64)
      (catch Throwable t (s/socket-close* l) (throw t)))
    (let [track! (fn [so] (swap! open conj so) so)
          acceptor
          (future
            (binding [s/*socket-accept-timeout* nil]
              (try
                (loop []
                  (let [c (track! (s/socket-accept l))
                        t (track! (s/socket (s/sockaddr-family target) :sock/stream))]
                    (try
                      (s/socket-connect t target)
                      (.setOption ^sockets.Socket c (.intValue IPProto/IPPROTO_TCP) (.intValue TCP/TCP_NODELAY) 1)
                      (.setOption ^sockets.Socket t (.intValue IPProto/IPPROTO_TCP) (.intValue TCP/TCP_NODELAY) 1)
                      (swap! forwarders conj
                             (future (forward :up c t (direction-schedule schedule :up) log stopped c))
                             (future (forward :down t c (direction-schedule schedule :down) log stopped c)))
                      (catch java.io.IOException e
                        (swap! log conj [:connect :error (:kind (ex-data e))])
                        (s/socket-close* c)))
                    (recur)))
                (catch java.io.IOException _ nil))))
          stop (fn []
                 (reset! stopped true)
                 (s/socket-close* l)
                 (run! s/socket-close* @open)
                 (deref acceptor 5000 nil)
                 ;; the forwarders leave their calls, so the closed sockets' fds are given back
                 (run! #(try (deref % 5000 nil) (catch Exception _ nil)) @forwarders)
                 nil)]
      (->FaultProxy (s/socket-name l) log stop))))

(defmacro with-fault-proxy
  "(with-fault-proxy [p {:target addr :schedule sched}] body...): runs body with `p` bound to
  a started fault proxy, closing it (and every connection it made) when body exits."
  [[sym opts] & body]
  `(let [~sym (fault-proxy ~opts)]
     (try ~@body (finally (.close ~(with-meta sym {:tag `FaultProxy}))))))
