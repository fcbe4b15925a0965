(ns sockets.datagram-proxy
  "A datagram (UDP) impairment proxy on loopback for property-testing datagram protocols
  (re-exported by `sockets.gen` as `datagram-proxy` and `with-datagram-proxy`; `sockets.gen/
  datagram-schedule` generates its schedules).

  A schedule is plain data: per direction, a vector of events, the i-th applying to the i-th
  datagram (counting from 0) the proxy receives in that direction; datagrams beyond its end pass.
    {:up   [:pass :drop]                           ; client -> target
     :down [{:action :duplicate :copies 2}]}       ; target -> client
  Events:
    :pass or {:action :pass}                 forwarded unchanged
    :drop or {:action :drop}                 never forwarded
    {:action :duplicate :copies n}           forwarded n times (n >= 1), back to back
    {:action :delay :ms n}                   forwarded n ms after it arrived
    {:action :reorder :after k}              held until k later datagrams (k >= 1) have arrived
                                             in its direction, then forwarded right after the
                                             k-th of them; never forwarded if they never come
    {:action :corrupt :offsets [i ...]}      the bytes at those offsets flipped (xor 0xff);
                                             offsets at or past its end are ignored
    {:action :truncate :to n}                cut to its first n bytes

  The order is defined by the schedule alone. Each direction is a FIFO line: a delay holds
  that datagram and every later one of its direction behind it (a latency spike, never a
  reordering), so the only reordering is :reorder's, counted in datagrams, not time. What
  depends on time is when, never in which order.

  The proxy serves one client: the sender of the latest datagram it received on its address.
  Four threads of its own (a receiver and a sender per direction), all ended by `close`."
  (:require [sockets.constants :as c]
            [sockets.core :as s])
  (:import (java.io Closeable)
           (java.util.concurrent CountDownLatch LinkedBlockingQueue TimeUnit)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ schedules

(def ^:private event-params
  ;; action -> [the key of its parameter, its least value], nil for none
  {:pass nil, :drop nil, :duplicate [:copies 1], :delay [:ms 0], :reorder [:after 1],
   :corrupt [:offsets 0], :truncate [:to 0]})

(defn- event-problem
  "nil when `e` is a valid event, else a string saying what is wrong."
  [e]
  (let [m (if (keyword? e) {:action e} e)
        [k least] (and (map? m) (event-params (:action m)))
        v (get m k)
        nat? #(c/int-in? % least Integer/MAX_VALUE)]
    (cond
      (not (and (map? m) (contains? event-params (:action m))))
      (str "an event is :pass, :drop or a map whose :action is one of " (vec (sort (keys event-params))) ", not " (pr-str e))
      (nil? k) nil
      (= :offsets k) (when-not (and (sequential? v) (every? nat? v))
                       (str ":corrupt needs :offsets, a vector of non-negative integers, not " (pr-str v)))
      (not (nat? v)) (str (:action m) " needs " k ", an integer >= " least ", not " (pr-str v)))))

(defn schedule-problem
  "nil when `schedule` is a valid datagram schedule (see the namespace docstring), else a string
  saying what is wrong. Never blocks."
  [schedule]
  (cond
    (not (map? schedule)) (str "a datagram schedule is a map {:up [events] :down [events]}, not " (pr-str schedule))
    (seq (dissoc schedule :up :down)) (str "a datagram schedule has only :up and :down, not " (pr-str (keys (dissoc schedule :up :down))))
    :else (some (fn [dir]
                  (let [evs (get schedule dir [])]
                    (if (sequential? evs)
                      (some (fn [[i e]] (when-let [p (event-problem e)] (str dir " event " i ": " p)))
                            (map-indexed vector evs))
                      (str dir " must be a vector of events, not " (pr-str evs)))))
                [:up :down])))

(defn- normalize [e] (if (keyword? e) {:action e} e))

(defn schedule-faults
  "The events of `schedule` that are not :pass, each as its event map with :dir and :n (its
  datagram ordinal) added, :up before :down. `(count (schedule-faults sched))` is how many
  impairments a shrunk schedule still needs. Never blocks."
  [schedule]
  (vec (for [dir [:up :down]
             [n e] (map-indexed vector (get schedule dir))
             :let [m (normalize e)]
             :when (not= :pass (:action m))]
         (assoc m :dir dir :n n))))

(defn- flip ^bytes [^bytes b offsets]
  (let [out (aclone b)]
    (doseq [i offsets :when (< (long i) (alength out))]
      (aset out (int i) (unchecked-byte (bit-xor 0xff (aget out (int i))))))
    out))

(defn- apply-event
  "What the datagram `b` (ordinal `n`) becomes under `event`: [items held log-entry], items
  being [bytes release-nanos] to append to the direction's line, held a [bytes k] or nil."
  [dir n ^bytes b event now]
  (let [{:keys [action copies ms after offsets to] :as e} (normalize event)
        entry (merge e {:dir dir :n n :size (alength b)})]
    (case action
      :pass [[[b now]] nil entry]
      :drop [[] nil entry]
      :duplicate [(vec (repeat copies [b now])) nil entry]
      :delay [[[b (+ (long now) (* 1000000 (long ms)))]] nil entry]
      :reorder [[] [b after n] entry]
      :corrupt [[[(flip b offsets) now]] nil entry]
      :truncate [[[(java.util.Arrays/copyOf b (int (min (long to) (alength b)))) now]] nil entry])))

(defn- step
  "The direction's state after datagram `b` arrives: {:n next ordinal, :held [[bytes k n] ...],
  :out items to queue, :log entries}. Pure: the schedule alone decides the order."
  [{:keys [n held]} dir events ^bytes b now]
  (let [n (long n)
        [items hold entry] (apply-event dir n b (get events n :pass) now)
        ;; the held datagrams count this one; those whose count ends go right after it
        counted (map (fn [[hb k hn]] [hb (dec (long k)) hn]) held)
        due (filter #(<= (long (second %)) 0) counted)]
    {:n (inc n)
     :held (cond-> (vec (remove #(<= (long (second %)) 0) counted)) hold (conj hold))
     :out (into items (map (fn [[hb _ _]] [hb now]) due))
     :log (into [entry] (map (fn [[_ _ hn]] {:dir dir :n hn :action :released :after-n n}) due))}))

;; ------------------------------------------------------------------ the proxy

(defrecord DatagramProxy [address log stop]
  Closeable
  (close [_] (stop)))
;; made only by the function below: the constructors defrecord generates are not API
(alter-meta! #'->DatagramProxy assoc :private true)
(alter-meta! #'map->DatagramProxy assoc :private true)

(defn- thread ^Thread [nm f]
  (doto (Thread. ^Runnable f (str "sockets-datagram-proxy-" nm)) (.setDaemon true) (.start)))

(defn- receiver
  "Receives from `so` until it is closed; each datagram goes through `step`, its items onto
  `line`, its log entries into `log`."
  [so dir events line log on-receive stopped]
  (fn []
    (binding [s/*socket-receive-timeout* nil]
      (loop [state {:n 0 :held []}]
        (let [[^bytes b from] (try (s/socket-receive-from so 65536)
                                   (catch java.io.IOException e
                                     (when-not @stopped (swap! log conj {:dir dir :action :error :kind (:kind (ex-data e)) :errno (:errno (ex-data e))}))
                                     nil))]
          (cond
            @stopped (when-let [held (seq (:held state))]
                       (swap! log into (map (fn [[_ _ hn]] {:dir dir :n hn :action :never-released}) held)))
            (nil? b) (recur state) ; e.g. ECONNREFUSED from a target not listening (yet)
            :else (let [st (step state dir events b (System/nanoTime))]
                    (on-receive from)
                    (swap! log into (:log st))
                    (run! #(.put ^LinkedBlockingQueue line %) (:out st))
                    (recur (select-keys st [:n :held])))))))))

(defn- sender
  "Sends the line's items in order, each no sooner than its release time, with `send!`, until
  the stop marker or `done` counts down."
  [^LinkedBlockingQueue line send! ^CountDownLatch done dir log]
  (fn []
    (loop []
      (let [item (.take line)]
        (when-not (= ::stop item)
          (let [[b at] item
                wait (- (long at) (System/nanoTime))]
            (when-not (and (pos? wait) (.await done wait TimeUnit/NANOSECONDS))
              (try (send! b)
                   (catch java.io.IOException e
                     ;; a send that fails because close closed the socket is no event
                     (when (pos? (.getCount done))
                       (swap! log conj {:dir dir :action :error :kind (:kind (ex-data e)) :errno (:errno (ex-data e))}))))
              (recur))))))))

(defn- loopback [family] (s/inet-address (if (= :af/inet6 family) "::1" "127.0.0.1") 0))

(defn- start
  "Opens the proxy's sockets and starts its threads (arguments checked by `datagram-proxy`)."
  [target schedule bind]
  (let [family (:family target)
        front (s/socket family :sock/dgram)
        back (try (s/socket family :sock/dgram) (catch Throwable t (s/socket-close* front) (throw t)))
        _ (try (s/socket-bind front (or bind (loopback family)))
               (s/socket-bind back (loopback family))
               (s/socket-connect back target)
               (catch Throwable t (s/socket-close* front) (s/socket-close* back) (throw t)))
        stopped (atom false)
        done (CountDownLatch. 1)
        log (atom [])
        client (atom nil)
        up-line (LinkedBlockingQueue.)
        down-line (LinkedBlockingQueue.)
        events (fn [dir] (vec (get schedule dir)))
        threads [(thread "up-receiver" (receiver front :up (events :up) up-line log #(reset! client %) stopped))
                 (thread "down-receiver" (receiver back :down (events :down) down-line log (fn [_]) stopped))
                 (thread "up-sender" (sender up-line #(s/socket-send back %) done :up log))
                 (thread "down-sender" (sender down-line #(s/socket-send-to front % @client) done :down log))]
        stop (fn []
               (when (compare-and-set! stopped false true)
                 (.countDown done)
                 (.put up-line ::stop)
                 (.put down-line ::stop)
                 (s/socket-close* front)
                 (s/socket-close* back)
                 (doseq [^Thread t threads] (.join t 5000)))
               nil)]
    (->DatagramProxy (s/socket-name front) log stop)))

(defn datagram-proxy
  "Starts a datagram proxy forwarding between one client and `:target` (an :af/inet or
  :af/inet6 sockaddr) per `:schedule` (see the namespace docstring; default: pass everything),
  on a free port of the loopback address of the target's family (or `:bind`, a sockaddr).
  Returns a DatagramProxy (Closeable) at once, with :address (send the client's datagrams
  here), :log (an atom of a vector of what it did, one entry per datagram received,
  {:dir :up :n 0 :action :pass :size 12} plus the event's parameters, and {:action :released}
  when a reordered one goes, {:action :never-released} for one still held at close,
  {:action :error} for a failed send or receive) and :stop. A schedule that is not valid
  raises a SocketException of :kind :invalid and starts nothing. `close` stops the four
  threads (it waits for them, up to 5 s) and closes both sockets; datagrams still delayed or
  held are not sent."
  [{:keys [target schedule bind]}]
  (let [schedule (or schedule {})]
    (when-let [p (schedule-problem schedule)] (throw (c/invalid :datagram-proxy p)))
    (when-not (and (map? target) (#{:af/inet :af/inet6} (:family target)))
      (throw (c/invalid :datagram-proxy (str ":target must be an :af/inet or :af/inet6 sockaddr map, not " (pr-str target)))))
    (start target schedule bind)))

(defmacro with-datagram-proxy
  "(with-datagram-proxy [p {:target addr :schedule sched}] body...): runs body with `p` bound
  to a started `datagram-proxy` and returns body's value, closing the proxy (its sockets and
  threads) when body exits, normally or by an exception."
  [[sym opts] & body]
  `(let [~sym (datagram-proxy ~opts)]
     (try ~@body (finally (.close ~(with-meta sym {:tag `DatagramProxy}))))))
