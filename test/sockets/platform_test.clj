(ns sockets.platform-test
  "sockets.platform: the platform probe, and datafy/nav on sockets."
  (:require [clojure.datafy :refer [datafy nav]]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.platform :as pl]
            [sockets.test-util :as tu]))

(set! *warn-on-reflection* true)

(use-fixtures :once tu/fd-fixture)

(defn- skip [reason]
  (println "SKIP" (str (-> (ns-name *ns*) str) ":") reason))

;; ------------------------------------------------------------------ platform, datafy

(deftest platform-data
  (let [pf (pl/platform)]
    (is (= (get-in sockets.constants/tables [:af :af/inet]) (get-in pf [:constants :af :af/inet])))
    (is (every? (comp integer? val) (mapcat val (:constants pf))))
    (is (contains? (get-in pf [:options [:af/inet :sock/stream]]) :tcp/nodelay))
    (is (not (contains? (get-in pf [:options [:af/unix :sock/stream]]) :tcp/nodelay)))
    (is (contains? #{:epoll :poll} (:event-loop pf)))
    (is (contains? (:control-messages pf) [:sol/socket :scm/rights]))))

(deftest datafy-connected-tcp
  (with-open [l (tu/listener)]
    (let [[c acc] (tu/connected-pair l)]
      (try
        (s/set-tcp-no-delay! c true)
        (let [d (datafy c)]
          (is (= (s/socket-name c) (:local-address d)))
          (is (= (s/socket-name l) (:peer-address d)))
          (is (= [:af/inet :sock/stream] [(:family d) (:type d)]))
          (is (= (s/socket-fileno c) (:fd d)))
          (is (true? (get-in d [:options :tcp/nodelay])))
          (if (:tcp-info d)
            (is (pos? (get-in d [:tcp-info :snd-mss])))
            (skip "no TCP_INFO on this platform"))
          (let [n (nav d :peer-address (:peer-address d))]
            (is (= (:peer-address d) (:address n)))
            (is (string? (:host n)))
            (is (= (:port (:peer-address d)) (:service n)))))
        (is (false? (get-in (datafy acc) [:options :tcp/nodelay])))
        (finally (s/socket-close c) (s/socket-close acc))))
    (let [closed (doto (s/socket :af/inet :sock/stream) s/socket-close)]
      (is (:closed? (datafy closed))))))


;; ------------------------------------------------------------------ network interfaces

(defn- loopback []
  (first (filter #(contains? (:flags %) :loopback) (pl/interfaces))))

(defn- ipv6-loopback?
  "True when this host can bind ::1 (IPv6 on)."
  []
  (try (with-open [so (s/socket :af/inet6 :sock/dgram)]
         (s/socket-bind so (s/inet-address "::1" 0))
         true)
       (catch sockets.SocketException _ false)))

(deftest loopback-interface
  (let [lo (loopback)
        addrs (set (map (juxt (comp :address :address) (comp :address :netmask)) (:addresses lo)))]
    (is (some? lo) "an interface with :loopback")
    (is (= (:index lo) (pl/interface-index (:name lo))))
    (is (= (:name lo) (pl/interface-name (:index lo))))
    (when (= "Linux" (System/getProperty "os.name"))
      (is (= "lo" (:name lo))))
    (is (every? (:flags lo) [:up :loopback]))
    (is (contains? addrs ["127.0.0.1" "255.0.0.0"]))
    (is (every? #(= {:family :af/inet :address "127.0.0.1" :port 0} (:address %))
                (filter #(= "127.0.0.1" (get-in % [:address :address])) (:addresses lo)))
        "a sockaddr map like the rest of the library")
    (if (ipv6-loopback?)
      (is (contains? (set (map (comp :address :address) (:addresses lo))) "::1"))
      (skip "IPv6 is off: ::1 not checked"))))

(deftest names-and-indexes-round-trip
  (let [ifs (pl/interfaces)]
    (is (seq ifs))
    (is (= (map :index ifs) (sort (map :index ifs))) "sorted by index")
    (doseq [{:keys [name index flags addresses]} ifs]
      (testing name
        (is (= index (pl/interface-index name)))
        (when-not (re-find #":" name) ; a Linux address label has its device's index
          (is (= name (pl/interface-name index))))
        (is (set? flags))
        (is (every? keyword? flags))
        (doseq [{:keys [address netmask] :as a} addresses]
          (is (#{:af/inet :af/inet6} (:family address)))
          (is (or (nil? netmask) (= (:family address) (:family netmask))))
          (is (or (contains? a :broadcast) (contains? a :destination)))
          (when (and (= :af/inet6 (:family address)) (re-find #"^fe80:" (:address address)))
            (is (= index (:scope-id address)) "a link-local address's scope is its interface")))))))

(deftest interfaces-match-the-kernel-list
  ;; Linux's /sys/class/net names every interface, with or without an internet address.
  (let [dir (java.io.File. "/sys/class/net")]
    (if-not (.isDirectory dir)
      (skip "no /sys/class/net: the kernel's own list is not readable here")
      (let [by-name (into {} (map (juxt :name identity)) (pl/interfaces))
            sys (sort (.list dir))]
        (is (seq sys))
        (doseq [n sys
                :let [f (java.io.File. dir (str n "/ifindex"))]
                :when (.exists f)]
          (is (contains? by-name n) (str n " is listed, addresses or not"))
          (is (= (parse-long (str/trim (slurp f))) (:index (by-name n)))))
        (is (every? (fn [[n i]] (or (re-find #":" n) (some #{n} sys))) (map (juxt key (comp :index val)) by-name))
            "nothing listed that the kernel does not have")))))

(deftest unknown-interfaces-are-nil
  (let [ifs (pl/interfaces)
        unused (+ 1000 (apply max (map :index ifs)))]
    (is (nil? (pl/interface-index "no-such-if0")))
    (is (nil? (pl/interface-index "")))
    (is (nil? (pl/interface-name unused)))
    (is (nil? (pl/interface-name 0)) "no interface has index 0")
    (is (zero? (sockets.NetInterface/index "no-such-if0")))
    (is (nil? (sockets.NetInterface/name (int unused))))))

(deftest bad-interface-arguments-are-invalid
  (doseq [bad [nil 1 :lo 'lo (byte-array 2) "a\u0000b" "0123456789abcdef" (apply str (repeat 10000 "x"))
               "lo\uD800" "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"]] ; 8 chars, 16 bytes
    (is (= :invalid (tu/kind-of #(pl/interface-index bad))) (pr-str bad)))
  (is (nil? (pl/interface-index "0123456789abcde")) "15 bytes: looked up (there is none)")
  (doseq [bad [nil "lo" -1 0x100000000 1.5 1/2 (bigint 1e30) :lo]]
    (is (= :invalid (tu/kind-of #(pl/interface-name bad))) (pr-str bad)))
  (is (= :invalid (tu/kind-of #(sockets.NetInterface/index nil))))
  (is (= :invalid (tu/kind-of #(sockets.NetInterface/index "0123456789abcdef")))))

(deftest interface-indexes-are-scope-ids
  (let [lo (loopback)
        idx (:index lo)]
    (is (= idx (:scope-id (s/inet-address (str "fe80::1%" (:name lo)) 0))) "the egg's text form agrees")
    (is (= (str "fe80::1%" (:name lo))
           (s/sockaddr-address {:family :af/inet6 :address "fe80::1" :port 0 :scope-id idx})))
    (if-not (ipv6-loopback?)
      (skip "IPv6 is off: scoped sends not checked")
      (with-open [r (s/socket :af/inet6 :sock/dgram)
                  w (s/socket :af/inet6 :sock/dgram)]
        (s/socket-bind r {:family :af/inet6 :address "::1" :port 0 :scope-id idx})
        (let [to (assoc (s/socket-name r) :scope-id (pl/interface-index (:name lo)))]
          (is (= 3 (s/socket-send-to w (byte-array [1 2 3]) to)))
          (binding [s/*socket-receive-timeout* 5000]
            (is (= [1 2 3] (vec (s/socket-receive r 16))))))))
    (testing "a link-local address binds only with its interface's index as scope"
      (let [ll (for [i (pl/interfaces) a (:addresses i)
                     :let [sa (:address a)]
                     :when (and (= :af/inet6 (:family sa)) (re-find #"^fe80:" (:address sa)))]
                 sa)]
        (if (empty? ll)
          (skip "no link-local IPv6 address on this host")
          (doseq [sa (take 4 ll)]
            (with-open [a (s/socket :af/inet6 :sock/dgram)
                        b (s/socket :af/inet6 :sock/dgram)]
              (is (= :EINVAL (try (s/socket-bind a (dissoc sa :scope-id)) :bound
                                  (catch sockets.SocketException e (:errno (ex-data e)))))
                  "without a scope the kernel refuses")
              (s/socket-bind b (assoc sa :scope-id (pl/interface-index (pl/interface-name (:scope-id sa)))))
              (is (= (:scope-id sa) (:scope-id (s/socket-name b)))))))))))

(deftest ipv4-multicast-interface-from-interfaces
  (let [v4 (->> (loopback) :addresses (map :address) (filter #(= :af/inet (:family %))) first :address)]
    (is (= "127.0.0.1" v4))
    (with-open [so (s/socket :af/inet :sock/dgram)]
      (s/set-socket-options! so {:ip/multicast-if v4})
      (is (= {:ip/multicast-if v4} (s/socket-options so [:ip/multicast-if])))
      (let [m {:group "239.77.1.3" :interface v4}]
        (s/set-socket-options! so {:ip/add-membership m})
        (is (= :no-error (tu/kind-of #(s/set-socket-options! so {:ip/drop-membership m}))) "joined on lo, so it can be left")
        (is (not= :no-error (tu/kind-of #(s/set-socket-options! so {:ip/drop-membership m}))) "left: not a member any more")))))

(deftest java-api-lists-the-same-interfaces
  (let [ifs (pl/interfaces)
        java (vec (sockets.NetInterface/list))]
    (is (= (map (juxt :name :index) ifs)
           (map (fn [^sockets.NetInterface i] [(.name i) (long (.index i))]) java)))
    (is (= (map #(count (:addresses %)) ifs)
           (map (fn [^sockets.NetInterface i] (count (.addresses i))) java)))
    (is (.isUp ^sockets.NetInterface (first (filter #(= (:name (loopback)) (.name ^sockets.NetInterface %)) java))))
    (is (thrown? UnsupportedOperationException (.add (.addresses ^sockets.NetInterface (first java)) nil)))))

(definterface MallocInfo
  (^jnr.ffi.Pointer open_memstream [^jnr.ffi.Pointer ptr ^jnr.ffi.Pointer size])
  (^int malloc_info [^int options ^jnr.ffi.Pointer stream])
  (^int fclose [^jnr.ffi.Pointer stream])
  (^void free [^jnr.ffi.Pointer p]))

(def ^:private malloc-lib
  (delay (try (let [^MallocInfo l (.load (jnr.ffi.LibraryLoader/create MallocInfo) "c")
                    ^jnr.ffi.Runtime rt (jnr.ffi.Runtime/getRuntime l)
                    p (jnr.ffi.Memory/allocateDirect rt 16)
                    f (.open_memstream l p (jnr.ffi.Memory/allocateDirect rt 16))]
                (.malloc_info l 0 f) ; UnsatisfiedLinkError without glibc
                (.fclose l f)
                (.free l (.getPointer p 0))
                l)
              (catch Throwable _ nil))))

(defn- malloc-kb
  "KiB glibc's malloc holds from the system over all arenas (malloc_info(3)), or nil
  without glibc. (RSS cannot tell: the JVM's heap pages move it by tens of MiB.)"
  []
  (when-let [^MallocInfo l @malloc-lib]
    (let [^jnr.ffi.Runtime rt (jnr.ffi.Runtime/getRuntime l)
          p (jnr.ffi.Memory/allocateDirect rt 16)
          f (.open_memstream l p (jnr.ffi.Memory/allocateDirect rt 16))]
      (.malloc_info l 0 f)
      (.fclose l f)
      (let [s (.getPointer p 0)
            xml (.getString s 0)]
        (.free l s)
        (quot (reduce + (map (comp parse-long second) (re-seq #"<system type=\"current\" size=\"(\d+)\"" xml))) 1024)))))

(deftest many-calls-leak-nothing
  ;; getifaddrs allocates about 4 KiB per call on this test's host: 5,000 calls without
  ;; freeifaddrs grow malloc's memory by 20 MiB, every time; with it, by about 0 (and, once in
  ;; a while, by several MiB the JIT compilers take). So the smallest growth of three rounds
  ;; is checked. The fd fixture checks the descriptors.
  (let [n 5000
        _ (dotimes [_ 2000] (pl/interfaces))
        growth (fn [] (let [before (malloc-kb)]
                        (dotimes [_ n] (sockets.NetInterface/list))
                        (when before (- (malloc-kb) before))))
        first-round (growth)]
    (if (nil? first-round)
      (skip "no glibc malloc_info: native memory not checked")
      (let [least (reduce min first-round (repeatedly 2 growth))]
        (is (< least (* 10 1024)) (str "malloc's memory grew at least " least " KiB in each round of " n " calls"))))))
